package dev.distill.service.web;

import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.URI;
import java.util.List;
import org.springframework.http.HttpStatus;
import org.springframework.http.MediaType;
import org.springframework.http.ProblemDetail;
import org.springframework.stereotype.Component;
import tools.jackson.databind.ObjectMapper;

/** Builds problems and writes them where MVC's exception handling does not reach (filters). */
@Component
public class ProblemWriter {

  /** Every problem type URI starts with this; the rest is a stable slug. */
  public static final String TYPE_BASE = "https://distill.dev/problems/";

  private final ObjectMapper mapper;

  public ProblemWriter(ObjectMapper mapper) {
    this.mapper = mapper;
  }

  public static ProblemDetail problem(
      HttpStatus status, String type, String title, String detail, List<FieldError> errors) {
    ProblemDetail p = ProblemDetail.forStatusAndDetail(status, detail);
    p.setType(URI.create(TYPE_BASE + type));
    p.setTitle(title);
    if (errors != null && !errors.isEmpty()) {
      p.setProperty("errors", errors);
    }
    return p;
  }

  /** The slug for problems Spring raised itself, by status. */
  public static String typeFor(int status) {
    return switch (status) {
      case 400 -> "bad-request";
      case 401 -> "unauthorized";
      case 403 -> "forbidden";
      case 404 -> "not-found";
      case 405 -> "method-not-allowed";
      case 406 -> "not-acceptable";
      case 409 -> "conflict";
      case 413 -> "payload-too-large";
      case 415 -> "unsupported-media-type";
      case 422 -> "validation-error";
      case 503 -> "unavailable";
      default -> status >= 500 ? "internal-error" : "http-" + status;
    };
  }

  public void write(HttpServletResponse response, ProblemDetail problem) throws IOException {
    response.setStatus(problem.getStatus());
    response.setContentType(MediaType.APPLICATION_PROBLEM_JSON_VALUE);
    response.getOutputStream().write(mapper.writeValueAsBytes(problem));
  }
}
