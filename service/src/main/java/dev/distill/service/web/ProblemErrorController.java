package dev.distill.service.web;

import jakarta.servlet.RequestDispatcher;
import jakarta.servlet.http.HttpServletRequest;
import org.springframework.boot.webmvc.error.ErrorController;
import org.springframework.http.HttpStatus;
import org.springframework.http.MediaType;
import org.springframework.http.ProblemDetail;
import org.springframework.http.ResponseEntity;
import org.springframework.web.bind.annotation.RequestMapping;
import org.springframework.web.bind.annotation.RestController;

/**
 * Errors that never reached a controller (the container's error page, {@code sendError}) are
 * problems too, instead of Boot's default error JSON.
 */
@io.swagger.v3.oas.annotations.Hidden
@RestController
class ProblemErrorController implements ErrorController {

  @RequestMapping("/error")
  ResponseEntity<ProblemDetail> error(HttpServletRequest request) {
    Object code = request.getAttribute(RequestDispatcher.ERROR_STATUS_CODE);
    int status = code instanceof Integer i ? i : 500;
    HttpStatus s = HttpStatus.resolve(status);
    if (s == null) {
      s = HttpStatus.INTERNAL_SERVER_ERROR;
    }
    ProblemDetail p =
        ProblemWriter.problem(
            s, ProblemWriter.typeFor(s.value()), s.getReasonPhrase(), s.getReasonPhrase(), null);
    return ResponseEntity.status(s).contentType(MediaType.APPLICATION_PROBLEM_JSON).body(p);
  }
}
