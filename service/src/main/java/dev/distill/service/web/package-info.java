/**
 * HTTP cross-cutting concerns: every error as one RFC 9457 problem with a stable {@code type}
 * (rendered by {@link dev.distill.service.web.ApiExceptionHandler} and, outside MVC, by {@link
 * dev.distill.service.web.ProblemWriter}), and the request body size cap. No feature logic here.
 */
package dev.distill.service.web;
