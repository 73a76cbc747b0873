/**
 * The worker protocol: request and response records of {@code /v1/worker/*}, shared by the service
 * and the worker so the wire format is written once. Every record checks itself in its compact
 * constructor and throws {@link dev.distill.spec.InvalidSpecException} naming each bad field; no
 * framework code lives here beyond Jackson annotations.
 */
package dev.distill.spec.protocol;
