/**
 * Clients of outside OpenAI-compatible endpoints (vLLM, Ollama, {@code distill serve}, a hosted
 * API): {@link OpenAiClient}, the worker's {@code TextModel} for {@code openai:} references, and
 * {@link EndpointKeys}, where a worker finds an endpoint's key by its name. Keys never reach a log,
 * an event or an error message.
 */
package dev.distill.app.endpoint;
