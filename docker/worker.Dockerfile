# distill worker and CLI (DJL + PyTorch CPU, the native library ships inside the image's jars: nothing is
# downloaded at run time). Build from the repository root:
#   docker build -f docker/worker.Dockerfile -t distill/worker:0.1.0 .
# Runs `distill <command>`, by default `worker`: DISTILL_URL, DISTILL_TOKEN (or DISTILL_TOKEN_FILE), --storage-root
# (the artifact store shared by all workers, /var/lib/distill/data/artifacts), metrics on :9400.
FROM eclipse-temurin:17-jdk AS build
# gcc builds the trainer's fused CPU kernels into its jar (trainer/src/main/native/build.sh; without it the image
# runs without them); the runtime stage needs no compiler
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends gcc libc6-dev >/dev/null \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN ./mvnw -B -q -DskipTests -pl app -am package

FROM eclipse-temurin:17-jre
RUN groupadd --system --gid 10001 distill \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/distill --shell /usr/sbin/nologin distill \
 && mkdir -p /opt/distill/lib /var/lib/distill/data/artifacts /var/lib/distill/secrets \
 && chown -R 10001:10001 /var/lib/distill
COPY --from=build /src/app/target/lib/ /opt/distill/lib/
COPY --from=build /src/app/target/distill-app.jar /opt/distill/distill-app.jar
COPY docker/worker-entrypoint.sh /opt/distill/bin/distill
ENV DISTILL_HOME=/var/lib/distill \
    DJL_CACHE_DIR=/tmp/djl
USER 10001:10001
WORKDIR /var/lib/distill
# The artifact store: mount the shared volume here.
VOLUME ["/var/lib/distill/data/artifacts"]
EXPOSE 9400
ENTRYPOINT ["/opt/distill/bin/distill"]
CMD ["worker", "--storage-root", "/var/lib/distill/data/artifacts", "--metrics-port", "9400", "--metrics-address", "0.0.0.0"]
