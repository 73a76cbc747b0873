package dev.distill.service.web;

import jakarta.servlet.FilterChain;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.springframework.core.Ordered;
import org.springframework.core.annotation.Order;
import org.springframework.http.HttpStatus;
import org.springframework.http.MediaType;
import org.springframework.stereotype.Component;
import org.springframework.web.filter.OncePerRequestFilter;
import tools.jackson.core.JacksonException;
import tools.jackson.core.exc.StreamReadException;
import tools.jackson.databind.ObjectMapper;

/**
 * Syntax first: a JSON request body is parsed whole before any field is bound, so a body that is
 * not valid JSON (truncated, trailing content, a duplicate key) is 400 {@code malformed-json}
 * wherever the error sits, and only valid JSON reaches field validation (422). Runs after the auth
 * filter: an unauthenticated caller learns nothing about its body.
 */
@Component
@Order(Ordered.HIGHEST_PRECEDENCE + 25)
class JsonSyntaxFilter extends OncePerRequestFilter {

  private static final Pattern DUPLICATE = Pattern.compile("Duplicate Object property \"(.*)\"");
  private final ObjectMapper mapper;
  private final ProblemWriter problems;

  JsonSyntaxFilter(ObjectMapper mapper, ProblemWriter problems) {
    this.mapper = mapper;
    this.problems = problems;
  }

  @Override
  protected boolean shouldNotFilter(HttpServletRequest request) {
    String type = request.getContentType();
    if (type == null) {
      return true;
    }
    try {
      MediaType m = MediaType.parseMediaType(type);
      return !(MediaType.APPLICATION_JSON.isCompatibleWith(m) && !m.isWildcardSubtype()
          || m.getSubtype().endsWith("+json"));
    } catch (RuntimeException e) {
      return true; // MVC answers an unparsable Content-Type with 415
    }
  }

  @Override
  protected void doFilterInternal(
      HttpServletRequest request, HttpServletResponse response, FilterChain chain)
      throws ServletException, IOException {
    byte[] body = request.getInputStream().readAllBytes();
    if (body.length > 0) {
      try {
        mapper.readTree(body);
      } catch (StreamReadException e) {
        problems.write(response, malformed(e));
        return;
      } catch (JacksonException e) {
        problems.write(
            response,
            ProblemWriter.problem(
                HttpStatus.BAD_REQUEST,
                "malformed-json",
                "Malformed request body",
                "the body is not valid JSON",
                null));
        return;
      }
    }
    chain.doFilter(new BodySizeFilter.Buffered(request, body), response);
  }

  private static org.springframework.http.ProblemDetail malformed(StreamReadException e) {
    String where =
        e.getLocation() == null
            ? ""
            : " (line "
                + e.getLocation().getLineNr()
                + ", column "
                + e.getLocation().getColumnNr()
                + ")";
    Matcher dup = DUPLICATE.matcher(e.getOriginalMessage() == null ? "" : e.getOriginalMessage());
    if (dup.find()) {
      String key = dup.group(1);
      return ProblemWriter.problem(
          HttpStatus.BAD_REQUEST,
          "malformed-json",
          "Malformed request body",
          "duplicate key '" + key + "'" + where,
          List.of(new FieldError(key, "is given more than once")));
    }
    return ProblemWriter.problem(
        HttpStatus.BAD_REQUEST,
        "malformed-json",
        "Malformed request body",
        "the body is not valid JSON" + where,
        null);
  }
}
