package dev.distill.app.serve;

import tools.jackson.databind.node.ObjectNode;

/**
 * A failed request, answered in OpenAI's error shape {@code {"error": {"message", "type", "param",
 * "code"}}} with its HTTP status. Messages name the parameter and never hold a stack trace.
 */
final class OpenAiError extends RuntimeException {

  static final String INVALID_REQUEST = "invalid_request_error";

  private final int status;
  private final String type;
  private final String param;
  private final String code;

  OpenAiError(int status, String type, String param, String code, String message) {
    super(message);
    this.status = status;
    this.type = type;
    this.param = param;
    this.code = code;
  }

  /** 400: a parameter is missing, of the wrong type or out of range. */
  static OpenAiError invalid(String param, String message) {
    return new OpenAiError(400, INVALID_REQUEST, param, null, message);
  }

  /** 400: a parameter this server does not implement was given a value other than its default. */
  static OpenAiError unsupported(String param, String message) {
    return new OpenAiError(400, INVALID_REQUEST, param, "unsupported_parameter", message);
  }

  /** 404: the request names a model this server does not serve. */
  static OpenAiError modelNotFound(String model, String served) {
    return new OpenAiError(
        404,
        INVALID_REQUEST,
        "model",
        "model_not_found",
        "The model '" + model + "' does not exist; this server serves '" + served + "'");
  }

  /** 404: no such endpoint. */
  static OpenAiError unknownUrl(String method, String path) {
    return new OpenAiError(
        404, INVALID_REQUEST, null, "unknown_url", "Unknown request URL: " + method + " " + path);
  }

  /** 405: a known path with another method. */
  static OpenAiError methodNotAllowed(String method, String path, String allowed) {
    return new OpenAiError(
        405,
        INVALID_REQUEST,
        null,
        "method_not_allowed",
        method + " is not allowed on " + path + "; use " + allowed);
  }

  /** 401: a key is configured and the request has no bearer token or another one. */
  static OpenAiError unauthorized(boolean missing) {
    return new OpenAiError(
        401,
        INVALID_REQUEST,
        null,
        "invalid_api_key",
        missing
            ? "Missing API key: send the header 'Authorization: Bearer <key>'"
            : "Incorrect API key provided");
  }

  /** 429: the concurrency limit is reached. */
  static OpenAiError busy(int limit) {
    return new OpenAiError(
        429,
        "rate_limit_error",
        null,
        "too_many_concurrent_requests",
        "This server takes at most "
            + limit
            + " generation requests at once (--max-concurrency); retry later");
  }

  /** 413: a body larger than the server reads. */
  static OpenAiError tooLarge(long limit) {
    return new OpenAiError(
        413,
        INVALID_REQUEST,
        null,
        "request_too_large",
        "The body is larger than " + limit + " bytes");
  }

  /** 500: anything unexpected; the message says what, the log has the rest. */
  static OpenAiError internal(String message) {
    return new OpenAiError(500, "server_error", null, null, message);
  }

  int status() {
    return status;
  }

  String type() {
    return type;
  }

  String param() {
    return param;
  }

  String code() {
    return code;
  }

  /** The JSON body. */
  ObjectNode body() {
    ObjectNode root = Json.MAPPER.createObjectNode();
    ObjectNode e = root.putObject("error");
    e.put("message", getMessage());
    e.put("type", type);
    if (param == null) {
      e.putNull("param");
    } else {
      e.put("param", param);
    }
    if (code == null) {
      e.putNull("code");
    } else {
      e.put("code", code);
    }
    return root;
  }
}
