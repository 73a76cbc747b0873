/**
 * Bearer-token authentication and role checks. Tokens are stored only as SHA-256 hashes, each bound
 * to one project and one role; {@link dev.distill.service.auth.Caller} is what the rest of the
 * service sees of the caller. Job and worker logic does not live here.
 */
package dev.distill.service.auth;
