package dev.distill.service.console;

import static org.assertj.core.api.Assertions.assertThat;

import dev.distill.service.ServiceTest;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The console's static pages are served without a token, with a Content-Security-Policy that allows
 * no inline script, and the page holds no inline script, style or event handler that such a policy
 * would block. What the pages do is tested in a real browser ({@code e2e}'s ConsoleTest).
 */
class ConsolePagesTest extends ServiceTest {

  @Test
  void theConsoleRedirectsToItsPageWhichHasStrictHeaders() {
    Resp redirect = get("/console", null);
    assertThat(redirect.status()).isEqualTo(302);
    assertThat(redirect.header("Location")).endsWith("/console/");

    Resp page = get("/console/", null);
    assertThat(page.status()).isEqualTo(200);
    assertThat(page.header("Content-Type")).startsWith("text/html");
    assertStrictHeaders(page);
    assertThat(page.body()).contains("<script src=\"console.js\" defer></script>");
  }

  @Test
  void thePageHasNoInlineScriptStyleOrHandler() {
    String html = get("/console/", null).body();
    Matcher scripts =
        Pattern.compile("<script([^>]*)>(.*?)</script>", Pattern.DOTALL).matcher(html);
    int n = 0;
    while (scripts.find()) {
      n++;
      assertThat(scripts.group(1)).contains("src=");
      assertThat(scripts.group(2)).isBlank();
    }
    assertThat(n).isEqualTo(1);
    assertThat(html).doesNotContainPattern("(?i)\\son[a-z]+\\s*=");
    assertThat(html).doesNotContainPattern("(?i)\\sstyle\\s*=");
    assertThat(html).doesNotContainPattern("(?i)<style");
    assertThat(html).doesNotContainPattern("(?i)https?://");
  }

  @Test
  void scriptsAndStylesAreServedWithTheSameHeaders() {
    Resp js = get("/console/console.js", null);
    assertThat(js.status()).isEqualTo(200);
    assertThat(js.header("Content-Type")).contains("javascript");
    assertStrictHeaders(js);
    Resp css = get("/console/console.css", null);
    assertThat(css.status()).isEqualTo(200);
    assertThat(css.header("Content-Type")).startsWith("text/css");
    assertStrictHeaders(css);
    Resp missing = get("/console/nothing-here.js", null);
    assertThat(missing.status()).isEqualTo(404);
    assertThat(missing.header("Content-Type")).startsWith("application/problem+json");
  }

  private static void assertStrictHeaders(Resp r) {
    String csp = r.header("Content-Security-Policy");
    assertThat(csp)
        .contains("default-src 'none'", "script-src 'self'", "connect-src 'self'")
        .contains("form-action 'none'", "frame-ancestors 'none'")
        .doesNotContain("unsafe-inline", "unsafe-eval");
    assertThat(r.header("X-Content-Type-Options")).isEqualTo("nosniff");
    assertThat(r.header("Referrer-Policy")).isEqualTo("no-referrer");
    assertThat(r.header("X-Frame-Options")).isEqualTo("DENY");
  }
}
