# distill worker on NVIDIA GPUs. DJL 0.36's PyTorch engine loads the libtorch of a pip PyTorch of the same version
# (2.7.1, the version of pytorch-jni in pom.xml) in its CUDA 12.8 build: DJL reads it through PYTORCH_LIBRARY_PATH,
# PYTORCH_VERSION and PYTORCH_FLAVOR, and its JNI for cu128 ships inside pytorch-jni's jar. Maven Central has no
# CUDA libtorch 2.7.x, so the CPU native jar is left out of this image. The CUDA runtime, cuBLAS and cuDNN come
# with the wheel (site-packages/nvidia/*); the driver comes from the host (NVIDIA container toolkit).
# Never built or run here (no Docker, no GPU on the build machines): see docs/gpu.md. Build from the repo root:
#   docker build -f docker/worker-cuda.Dockerfile -t distill/worker-cuda:0.1.0 .
FROM eclipse-temurin:17-jdk AS build
WORKDIR /src
COPY . .
RUN ./mvnw -B -q -DskipTests -pl app -am package

FROM python:3.12-slim AS torch
# torch only: its libtorch*.so and the nvidia-* runtime wheels it depends on; no Python is needed at run time
# (DJL skips libtorch_python.so).
RUN pip install --no-cache-dir --target /opt/torch/site-packages \
      torch==2.7.1 --index-url https://download.pytorch.org/whl/cu128

FROM eclipse-temurin:17-jre
RUN groupadd --system --gid 10001 distill \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/distill --shell /usr/sbin/nologin distill \
 && mkdir -p /opt/distill/lib /var/lib/distill/data/artifacts /var/lib/distill/secrets \
 && chown -R 10001:10001 /var/lib/distill
# libtorch finds the CUDA libraries through its RPATH ($ORIGIN/../../nvidia/...): keep torch/ and nvidia/ side by side
COPY --from=torch /opt/torch/site-packages/torch/lib/ /opt/torch/site-packages/torch/lib/
COPY --from=torch /opt/torch/site-packages/nvidia/ /opt/torch/site-packages/nvidia/
COPY --from=build /src/app/target/lib/ /opt/distill/lib/
RUN rm -f /opt/distill/lib/pytorch-native-cpu-*.jar
COPY --from=build /src/app/target/distill-app.jar /opt/distill/distill-app.jar
COPY docker/worker-entrypoint.sh /opt/distill/bin/distill
ENV DISTILL_HOME=/var/lib/distill \
    DJL_CACHE_DIR=/tmp/djl \
    PYTORCH_LIBRARY_PATH=/opt/torch/site-packages/torch/lib \
    PYTORCH_VERSION=2.7.1 \
    PYTORCH_FLAVOR=cu128 \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
USER 10001:10001
WORKDIR /var/lib/distill
VOLUME ["/var/lib/distill/data/artifacts"]
EXPOSE 9400
ENTRYPOINT ["/opt/distill/bin/distill"]
CMD ["worker", "--device", "cuda", "--storage-root", "/var/lib/distill/data/artifacts", "--metrics-port", "9400", "--metrics-address", "0.0.0.0"]
