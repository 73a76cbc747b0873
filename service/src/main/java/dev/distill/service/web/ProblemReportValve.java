package dev.distill.service.web;

import java.io.IOException;
import java.io.Writer;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.catalina.connector.Request;
import org.apache.catalina.connector.Response;
import org.apache.catalina.valves.ErrorReportValve;
import org.apache.coyote.ActionCode;
import org.springframework.http.HttpStatus;

/**
 * Tomcat's own error responses (a request line, path or header section Tomcat refuses before any
 * servlet sees it) as problem+json instead of Tomcat's HTML page. Installed on the host in place of
 * {@link ErrorReportValve} by {@link TomcatProblemConfig}; errors that reach the application are
 * rendered by {@link ApiExceptionHandler} and {@link ProblemErrorController}, never here.
 */
public class ProblemReportValve extends ErrorReportValve {

  @Override
  protected void report(Request request, Response response, Throwable throwable) {
    int status = response.getStatus();
    if (status < 400 || response.getContentWritten() > 0) {
      return;
    }
    AtomicBoolean ioAllowed = new AtomicBoolean(false);
    response.getCoyoteResponse().action(ActionCode.IS_IO_ALLOWED, ioAllowed);
    if (!ioAllowed.get() || !response.setErrorReported()) {
      return;
    }
    HttpStatus s = HttpStatus.resolve(status);
    String title = s == null ? "Error" : s.getReasonPhrase();
    String json =
        "{\"type\":\""
            + ProblemWriter.TYPE_BASE
            + type(status, response.getMessage(), throwable)
            + "\",\"title\":\""
            + title
            + "\",\"status\":"
            + status
            + ",\"detail\":\""
            + detail(status, response.getMessage(), throwable)
            + "\"}";
    try {
      response.setContentType("application/problem+json");
      response.setCharacterEncoding("utf-8");
      Writer writer = response.getReporter();
      if (writer != null) {
        writer.write(json);
        response.finishResponse();
      }
    } catch (IOException | IllegalStateException e) {
      // the client is gone or the response is committed: nothing more to say
    }
  }

  private static boolean aboutHeaders(String message, Throwable t) {
    String m = (message == null ? "" : message) + " " + (t == null ? "" : t.getMessage());
    return m.toLowerCase(Locale.ROOT).contains("header");
  }

  private static String type(int status, String message, Throwable t) {
    if (status == 400 && aboutHeaders(message, t)) {
      return "header-too-large";
    }
    if (status == 400) {
      return "invalid-request";
    }
    return ProblemWriter.typeFor(status);
  }

  /** Fixed texts only: Tomcat's messages echo the request, and some name Java classes. */
  private static String detail(int status, String message, Throwable t) {
    if (status == 400 && aboutHeaders(message, t)) {
      return "the request headers are larger than the server accepts (Authorization and every"
          + " other header count)";
    }
    if (status == 400) {
      return "the request line is not valid HTTP: the path and query may only hold RFC 3986"
          + " characters, and the path no encoded '/', NUL, invalid UTF-8, '.' or '..' segments";
    }
    HttpStatus s = HttpStatus.resolve(status);
    return s == null ? "error " + status : s.getReasonPhrase();
  }
}
