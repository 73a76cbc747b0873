/**
 * Checks of the deployment files: the Helm chart {@code helm/distill} (lint and template run inside
 * the JVM by helm-java; rendered manifests read as typed fabric8 Kubernetes objects), {@code
 * docker-compose.yml} ({@code docker-compose config} as a process) and the Dockerfiles under {@code
 * docker/}, which must agree with both.
 */
package dev.distill.deploy;
