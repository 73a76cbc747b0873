package dev.distill.service.auth;

import dev.distill.service.web.ProblemWriter;
import jakarta.servlet.FilterChain;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.util.Optional;
import org.springframework.core.Ordered;
import org.springframework.core.annotation.Order;
import org.springframework.http.HttpStatus;
import org.springframework.stereotype.Component;
import org.springframework.web.filter.OncePerRequestFilter;

/**
 * Authenticates every {@code /v1/**} request by its bearer token and applies the role rules: worker
 * tokens reach only {@code /v1/worker/**}, user tokens never do; writes need {@code admin} or
 * {@code member}; {@code /v1/tokens} needs {@code admin}. Everything outside {@code /v1} (health,
 * metrics, OpenAPI) is public. Requests whose path is not plain ({@code ;}, percent-encoding, dot
 * segments) never get here: {@code RequestGuardFilter} refuses them first, so the raw path checked
 * here is the path the router matches; the container's normalised path must agree too.
 */
@Component
@Order(Ordered.HIGHEST_PRECEDENCE + 20)
class AuthFilter extends OncePerRequestFilter {

  private final TokenService tokens;
  private final ProblemWriter problems;

  AuthFilter(TokenService tokens, ProblemWriter problems) {
    this.tokens = tokens;
    this.problems = problems;
  }

  @Override
  protected boolean shouldNotFilter(HttpServletRequest request) {
    return !(api(request.getRequestURI()) || api(normalised(request)));
  }

  private static boolean api(String path) {
    return path.equals("/v1") || path.startsWith("/v1/");
  }

  /** The path as the container decoded and normalised it (path parameters and dots removed). */
  private static String normalised(HttpServletRequest request) {
    String info = request.getPathInfo();
    return request.getServletPath() + (info == null ? "" : info);
  }

  @Override
  protected void doFilterInternal(
      HttpServletRequest request, HttpServletResponse response, FilterChain chain)
      throws ServletException, IOException {
    String header = request.getHeader("Authorization");
    Optional<Caller> caller = Optional.empty();
    if (header != null && header.regionMatches(true, 0, "Bearer ", 0, 7)) {
      String token = header.substring(7).trim();
      if (!token.isEmpty() && token.length() <= 256) {
        caller = tokens.resolve(token);
      }
    }
    if (caller.isEmpty()) {
      response.setHeader("WWW-Authenticate", "Bearer realm=\"distill\"");
      problems.write(
          response,
          ProblemWriter.problem(
              HttpStatus.UNAUTHORIZED,
              "unauthorized",
              "Unauthorized",
              header == null
                  ? "an Authorization: Bearer token is required"
                  : "the bearer token is not valid (unknown, revoked or expired)",
              null));
      return;
    }
    String denied = denied(caller.get(), request.getMethod(), request.getRequestURI());
    if (denied == null) {
      denied = denied(caller.get(), request.getMethod(), normalised(request));
    }
    if (denied != null) {
      problems.write(
          response,
          ProblemWriter.problem(HttpStatus.FORBIDDEN, "forbidden", "Forbidden", denied, null));
      return;
    }
    request.setAttribute(Caller.ATTRIBUTE, caller.get());
    chain.doFilter(request, response);
  }

  /** Why the caller may not make this request, or null if it may. */
  static String denied(Caller caller, String method, String path) {
    boolean workerPath = path.equals("/v1/worker") || path.startsWith("/v1/worker/");
    if (caller.role() == Role.WORKER) {
      return workerPath ? null : "worker tokens may only use /v1/worker/*";
    }
    if (workerPath) {
      return "only worker tokens may use /v1/worker/*";
    }
    boolean read = method.equals("GET") || method.equals("HEAD") || method.equals("OPTIONS");
    if (path.equals("/v1/tokens") || path.startsWith("/v1/tokens/")) {
      return caller.role() == Role.ADMIN ? null : "only admin tokens may manage tokens";
    }
    if (!read && !caller.role().canWriteJobs()) {
      return "role " + caller.role().json() + " may only read";
    }
    return null;
  }
}
