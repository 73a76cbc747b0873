# distill control plane. Build from the repository root:
#   docker build -f docker/service.Dockerfile -t distill/service:0.1.0 .
# Configuration is environment only (service/src/main/resources/application.properties): DISTILL_DB_URL,
# DISTILL_DB_USER, DISTILL_DB_PASSWORD, DISTILL_ADMIN_TOKEN, DISTILL_PORT, DISTILL_HOME, DISTILL_LEASE_TTL,
# DISTILL_REAPER_INTERVAL, plus JAVA_OPTS for the JVM.
FROM eclipse-temurin:17-jdk AS build
WORKDIR /src
COPY . .
RUN ./mvnw -B -q -DskipTests -pl service -am package

FROM eclipse-temurin:17-jre
# curl serves the compose health check and the one-shot worker-token service.
RUN apt-get update \
 && apt-get install -y --no-install-recommends curl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 distill \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/distill --shell /usr/sbin/nologin distill \
 && mkdir -p /opt/distill /var/lib/distill/data/artifacts /var/lib/distill/secrets \
 && chown -R 10001:10001 /var/lib/distill
COPY --from=build /src/service/target/distill-service.jar /opt/distill/distill-service.jar
COPY docker/service-entrypoint.sh /opt/distill/bin/service
COPY docker/create-worker-token.sh /opt/distill/bin/create-worker-token
ENV DISTILL_HOME=/var/lib/distill \
    DISTILL_PORT=8080 \
    DISTILL_ADDRESS=0.0.0.0
USER 10001:10001
WORKDIR /var/lib/distill
EXPOSE 8080
ENTRYPOINT ["/opt/distill/bin/service"]
