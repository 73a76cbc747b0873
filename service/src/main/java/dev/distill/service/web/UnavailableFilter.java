package dev.distill.service.web;

import jakarta.servlet.FilterChain;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import org.springframework.core.Ordered;
import org.springframework.core.annotation.Order;
import org.springframework.http.HttpHeaders;
import org.springframework.stereotype.Component;
import org.springframework.web.filter.OncePerRequestFilter;

/**
 * The database can be unreachable before a controller runs (the bearer token is looked up in a
 * filter): such a request gets the same 503 problem with {@code Retry-After} as one that failed in
 * a controller, not the container's 500.
 */
@Component
@Order(Ordered.HIGHEST_PRECEDENCE)
class UnavailableFilter extends OncePerRequestFilter {

  private final ProblemWriter problems;

  UnavailableFilter(ProblemWriter problems) {
    this.problems = problems;
  }

  @Override
  protected void doFilterInternal(
      HttpServletRequest request, HttpServletResponse response, FilterChain chain)
      throws ServletException, IOException {
    try {
      chain.doFilter(request, response);
    } catch (ServletException | RuntimeException e) {
      if (response.isCommitted() || !Unavailable.isDatabaseDown(e)) {
        throw e;
      }
      response.resetBuffer();
      response.setHeader(
          HttpHeaders.RETRY_AFTER, Long.toString(Unavailable.RETRY_AFTER.toSeconds()));
      problems.write(response, Unavailable.databaseProblem());
    }
  }
}
