package dev.distill.service.web;

import jakarta.servlet.FilterChain;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.Enumeration;
import java.util.List;
import java.util.regex.Pattern;
import org.springframework.core.Ordered;
import org.springframework.core.annotation.Order;
import org.springframework.http.HttpStatus;
import org.springframework.stereotype.Component;
import org.springframework.web.filter.OncePerRequestFilter;

/**
 * Refuses, before any authentication or routing decision, requests whose shape no route accepts: a
 * path that is not plain {@code /}-separated segments of {@code A-Z a-z 0-9 . _ ~ -} (so no path
 * parameters {@code ;}, no percent-encoding such as {@code %2F} or {@code %00}, no {@code .} or
 * {@code ..} segments, no empty segments), a query string that does not decode to UTF-8 text
 * without control characters, and a header value longer than {@link #MAX_HEADER_CHARS}. The path
 * the auth filter checks is then the path the router matches.
 */
@Component
@Order(Ordered.HIGHEST_PRECEDENCE)
class RequestGuardFilter extends OncePerRequestFilter {

  /** The longest header value accepted; bearer tokens are 47 characters. */
  static final int MAX_HEADER_CHARS = 8192;

  private static final Pattern PATH = Pattern.compile("(/[A-Za-z0-9._~-]+)*/?");

  private final ProblemWriter problems;

  RequestGuardFilter(ProblemWriter problems) {
    this.problems = problems;
  }

  @Override
  protected void doFilterInternal(
      HttpServletRequest request, HttpServletResponse response, FilterChain chain)
      throws ServletException, IOException {
    String path = request.getRequestURI();
    if (!plainPath(path)) {
      problems.write(
          response,
          ProblemWriter.problem(
              HttpStatus.BAD_REQUEST,
              "invalid-path",
              "Invalid request path",
              "the path may only hold /-separated segments of A-Z a-z 0-9 . _ ~ -"
                  + " (no ';', no percent-encoding, no '.' or '..' segments)",
              List.of(new FieldError("(path)", "is not a plain path"))));
      return;
    }
    String query = request.getQueryString();
    if (query != null && !plainQuery(query)) {
      problems.write(
          response,
          ProblemWriter.problem(
              HttpStatus.BAD_REQUEST,
              "invalid-parameter",
              "Invalid parameter",
              "the query string must be percent-encoded UTF-8 without control characters",
              List.of(new FieldError("(query)", "is not valid percent-encoded UTF-8 text"))));
      return;
    }
    String header = oversizedHeader(request);
    if (header != null) {
      problems.write(
          response,
          ProblemWriter.problem(
              HttpStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
              "header-too-large",
              "Request header too large",
              "header " + header + " is longer than " + MAX_HEADER_CHARS + " characters",
              List.of(new FieldError(header, "is longer than " + MAX_HEADER_CHARS))));
      return;
    }
    chain.doFilter(request, response);
  }

  static boolean plainPath(String path) {
    if (path == null || path.isEmpty() || !PATH.matcher(path).matches()) {
      return false;
    }
    for (String segment : path.split("/")) {
      if (segment.equals(".") || segment.equals("..")) {
        return false;
      }
    }
    return true;
  }

  /** Percent-escapes well formed, decoding to UTF-8, and no control characters (NUL included). */
  static boolean plainQuery(String query) {
    ByteBuffer bytes = ByteBuffer.allocate(query.length());
    for (int i = 0; i < query.length(); i++) {
      char c = query.charAt(i);
      if (c == '%') {
        if (i + 2 >= query.length()) {
          return false;
        }
        int hi = Character.digit(query.charAt(i + 1), 16);
        int lo = Character.digit(query.charAt(i + 2), 16);
        if (hi < 0 || lo < 0) {
          return false;
        }
        bytes.put((byte) (hi * 16 + lo));
        i += 2;
      } else if (c < 0x21 || c > 0x7e) {
        return false;
      } else {
        bytes.put((byte) c);
      }
    }
    bytes.flip();
    try {
      String decoded =
          StandardCharsets.UTF_8
              .newDecoder()
              .onMalformedInput(CodingErrorAction.REPORT)
              .onUnmappableCharacter(CodingErrorAction.REPORT)
              .decode(bytes)
              .toString();
      return decoded.chars().noneMatch(Character::isISOControl);
    } catch (CharacterCodingException e) {
      return false;
    }
  }

  private static String oversizedHeader(HttpServletRequest request) {
    Enumeration<String> names = request.getHeaderNames();
    while (names != null && names.hasMoreElements()) {
      String name = names.nextElement();
      Enumeration<String> values = request.getHeaders(name);
      while (values.hasMoreElements()) {
        String v = values.nextElement();
        if (v != null && v.length() > MAX_HEADER_CHARS) {
          return canonical(name);
        }
      }
    }
    return null;
  }

  /** {@code authorization} as {@code Authorization}: Tomcat reports header names lower-cased. */
  private static String canonical(String name) {
    StringBuilder sb = new StringBuilder(name.length());
    boolean up = true;
    for (char c : name.toCharArray()) {
      sb.append(up ? Character.toUpperCase(c) : c);
      up = c == '-';
    }
    return sb.toString();
  }
}
