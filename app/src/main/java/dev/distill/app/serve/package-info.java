/**
 * {@code distill serve}: an OpenAI-compatible HTTP server ({@code /v1/completions}, {@code
 * /v1/chat/completions}, {@code /v1/models}) over one checkpoint, generating with the trainer's
 * KV-cache {@link dev.distill.trainer.generate.Generator}. Built on the JDK's {@code
 * com.sun.net.httpserver}; no picocli here, and the trainer library never sees this package.
 */
package dev.distill.app.serve;
