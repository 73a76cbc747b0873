package dev.distill.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.openqa.selenium.By;
import org.openqa.selenium.JavascriptExecutor;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.TakesScreenshot;
import org.openqa.selenium.WebDriver;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.support.ui.ExpectedConditions;
import org.openqa.selenium.support.ui.WebDriverWait;
import tools.jackson.databind.JsonNode;

/**
 * The web console ({@code /console/}) in a real browser: Debian's headless Chromium driven by
 * chromium-driver through Selenium, against the real service process. One browser for the class;
 * every test signs in afresh. A fake worker (this test, speaking the worker protocol over HTTP)
 * feeds the metrics, events and checkpoint the job page shows, so the point counts are exact.
 *
 * <p>Screenshots of each page go to {@code target/console-screenshots/}, and to the directory named
 * by {@code -Ddistill.console.screenshots} (the committed ones: {@code docs/console}).
 */
class ConsoleTest {

  static final String CHROMIUM = System.getProperty("distill.chromium", "/usr/bin/chromium");
  static final String CHROMEDRIVER =
      System.getProperty("distill.chromedriver", "/usr/bin/chromedriver");
  static final Duration WAIT = Duration.ofSeconds(20);

  /** Never claimed by a real worker (none runs here); the fake worker claims by priority. */
  static String spec(int priority, String name) {
    return """
        {"type": "distill", "teacher": "builtin:gemma2-tiny", "student": "builtin:gemma2-tiny",
         "dataset": {"uri": "builtin:procedural", "num_examples": 400, "max_seq_len": 48},
         "hyperparameters": {"max_steps": 200, "batch_size": 4, "checkpoint_every": 20},
         "priority": %d, "metadata": {"name": "%s"}}
        """
        .formatted(priority, name);
  }

  static Cluster cluster;
  static WebDriver browser;
  static Path userDataDir;
  static String viewerToken;

  @BeforeAll
  static void start() throws Exception {
    for (String path : List.of(CHROMIUM, CHROMEDRIVER)) {
      if (!Files.isExecutable(Path.of(path))) {
        fail(
            "ConsoleTest needs Debian's chromium and chromium-driver: %s is missing."
                + " Install them with `apt-get install -y chromium chromium-driver` (.ci/run does),"
                + " or point -Ddistill.chromium / -Ddistill.chromedriver at them.",
            path);
      }
    }
    cluster = new Cluster("60s");
    viewerToken =
        cluster
            .post("v1/tokens", Map.of("name", "console-viewer", "role", "viewer"))
            .get("token")
            .asString();
    userDataDir = Files.createTempDirectory("distill-chromium-");
    ChromeOptions options = new ChromeOptions();
    options.setBinary(CHROMIUM);
    options.addArguments(
        "--headless=new",
        "--no-sandbox",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--window-size=1280,1100",
        "--user-data-dir=" + userDataDir);
    ChromeDriverService service =
        new ChromeDriverService.Builder()
            .usingDriverExecutable(new File(CHROMEDRIVER))
            .usingAnyFreePort()
            .withLogFile(cluster.log("chromedriver").toFile())
            .build();
    browser = new ChromeDriver(service, options);
    browser.manage().timeouts().scriptTimeout(WAIT);
  }

  @AfterAll
  static void stop() throws Exception {
    try {
      if (browser != null) {
        browser.quit();
      }
    } finally {
      if (cluster != null) {
        cluster.close();
      }
      if (userDataDir != null) {
        try (var files = Files.walk(userDataDir)) {
          files.sorted(java.util.Comparator.reverseOrder()).map(Path::toFile).forEach(File::delete);
        }
      }
    }
  }

  @Test
  @Timeout(value = 60, unit = TimeUnit.SECONDS)
  void anUnknownTokenIsRefusedAtSignIn() throws Exception {
    open();
    wait(ExpectedConditions.visibilityOfElementLocated(By.id("sign-in")));
    submitToken("dst_this-token-was-never-issued-0000000000");
    WebElement error =
        waitFor(
            "the sign-in error",
            ExpectedConditions.visibilityOfElementLocated(By.id("sign-in-error")));
    assertThat(error.getText()).startsWith("Token refused");
    screenshot("sign-in");
    assertThat(visible("sign-in")).isTrue();
    assertThat(visible("jobs")).isFalse();
    assertThat(js("return sessionStorage.getItem('distill.token')")).isNull();
    assertThat(browser.getCurrentUrl()).doesNotContain("dst_");
  }

  @Test
  @Timeout(value = 60, unit = TimeUnit.SECONDS)
  void theListShowsAJobCreatedThroughTheApiAndFiltersByStatus() throws Exception {
    String queued = cluster.createJob(spec(0, "listed"));
    String cancelled = cluster.createJob(spec(0, "cancelled-at-once"));
    cluster.cancel(cancelled);
    signIn(Cluster.ADMIN_TOKEN);
    assertThat(browser.getCurrentUrl()).doesNotContain(Cluster.ADMIN_TOKEN);
    assertThat(js("return localStorage.length")).isEqualTo(0L);

    jobRow(queued);
    assertThat(text("#job-table tr[data-job-id='" + queued + "']"))
        .contains(queued.substring(0, 8), "listed", "distill", "QUEUED");
    jobRow(cancelled);
    screenshot("jobs");

    filter("QUEUED");
    jobRow(queued);
    awaitNoJobRow(cancelled);
    filter("CANCELLED");
    jobRow(cancelled);
    awaitNoJobRow(queued);
    filter("");
    jobRow(queued);
    jobRow(cancelled);
  }

  @Test
  @Timeout(value = 120, unit = TimeUnit.SECONDS)
  void theJobPageDrawsEveryMetricPointFollowsLiveAndCancels() throws Exception {
    String id = cluster.createJob(spec(1000, "watched"));
    FakeWorker worker = FakeWorker.claim(cluster, id);
    List<Map<String, Object>> points = new ArrayList<>();
    for (int step = 1; step <= 37; step++) {
      points.add(Map.of("step", step, "name", "loss", "value", 3.0 * Math.exp(-step / 15.0)));
      if (step > 5) {
        points.add(Map.of("step", step, "name", "kl", "value", 0.8 / Math.sqrt(step)));
      }
    }
    worker.metrics(points);
    worker.events(
        List.of(
            Map.of("seq", 0, "kind", "started", "message", "fake worker: training"),
            Map.of("seq", 1, "kind", "eval", "level", "info", "message", "val loss 1.91")));
    worker.checkpoint(20);

    signIn(Cluster.ADMIN_TOKEN);
    browser.get(cluster.base + "console/#/jobs/" + id);
    waitFor("status RUNNING", d -> statusShown().equals("RUNNING"));
    awaitPoints("loss", metricCount(id, "loss"));
    awaitPoints("kl", metricCount(id, "kl"));
    assertThat(points("loss")).isEqualTo(37);
    assertThat(points("kl")).isEqualTo(32);
    waitFor("the worker's event", d -> eventMessages().contains("val loss 1.91"));
    waitFor("the checkpoint row", d -> text("#checkpoint-table tbody tr").contains("step-000020"));
    assertThat(text("#checkpoint-table tbody tr")).startsWith("20");
    screenshot("job");

    // live: points reported now appear without a reload
    worker.metrics(
        List.of(
            Map.of("step", 38, "name", "loss", "value", 0.24),
            Map.of("step", 39, "name", "loss", "value", 0.23)));
    awaitPoints("loss", metricCount(id, "loss"));
    assertThat(points("loss")).isEqualTo(39);

    WebElement cancel = browser.findElement(By.id("cancel-job"));
    assertThat(cancel.isDisplayed()).isTrue();
    cancel.click();
    wait(ExpectedConditions.alertIsPresent()).accept();
    waitFor("status CANCELLING after the click", d -> statusShown().equals("CANCELLING"));
    assertThat(cluster.job(id).get("status").asString()).isEqualTo("CANCELLING");
    assertThat(worker.heartbeat().get("cancel_requested").asBoolean()).isTrue();
    worker.failCancelled();
    // the status event arrives through the page's event stream
    waitFor("status CANCELLED", d -> statusShown().equals("CANCELLED"));
    waitFor(
        "the CANCELLED event from the stream",
        d -> eventMessages().stream().anyMatch(m -> m.contains("CANCELLED")));
    assertThat(cluster.job(id).get("status").asString()).isEqualTo("CANCELLED");
    assertThat(browser.findElement(By.id("cancel-job")).isDisplayed()).isFalse();
    waitFor(
        "the event stream's end",
        d -> d.findElement(By.id("stream-state")).getText().equals("finished"));
  }

  @Test
  @Timeout(value = 60, unit = TimeUnit.SECONDS)
  void aViewerSeesNoCancelButtonAndItsCancelIsRefused() throws Exception {
    String id = cluster.createJob(spec(0, "viewed"));
    signIn(viewerToken);
    assertThat(browser.findElement(By.id("who")).getText()).contains("viewer");
    browser.get(cluster.base + "console/#/jobs/" + id);
    waitFor("status QUEUED", d -> statusShown().equals("QUEUED"));
    waitFor("the event stream", d -> d.findElement(By.id("stream-state")).getText().equals("live"));
    assertThat(browser.findElement(By.id("cancel-job")).isDisplayed()).isFalse();

    // the page's own token, straight at the API: refused by the service, not only hidden
    Object answer =
        ((JavascriptExecutor) browser)
            .executeAsyncScript(
                """
                const done = arguments[arguments.length - 1];
                fetch('/v1/jobs/' + arguments[0] + '/cancel', {method: 'POST',
                    headers: {Authorization: 'Bearer ' + sessionStorage.getItem('distill.token')}})
                  .then(r => r.json().then(b => done([r.status, b.type])))
                  .catch(e => done(['error', String(e)]));
                """,
                id);
    assertThat(answer).asList().containsExactly(403L, "https://distill.dev/problems/forbidden");
    assertThat(cluster.job(id).get("status").asString()).isEqualTo("QUEUED");
  }

  // ---- the browser ----

  /** The console with nothing signed in. */
  private static void open() {
    browser.get(cluster.base + "console/");
    js("sessionStorage.clear()");
    browser.navigate().refresh();
  }

  private static void signIn(String token) {
    open();
    submitToken(token);
    wait(ExpectedConditions.visibilityOfElementLocated(By.id("jobs")));
  }

  private static void submitToken(String token) {
    WebElement input = wait(ExpectedConditions.visibilityOfElementLocated(By.id("token")));
    input.clear();
    input.sendKeys(token);
    browser.findElement(By.id("sign-in-button")).click();
  }

  private static void filter(String status) {
    browser
        .findElement(By.cssSelector("#status-filter button[data-status='" + status + "']"))
        .click();
    wait(
        d ->
            d.findElement(By.cssSelector("#status-filter button[data-status='" + status + "']"))
                .getAttribute("aria-pressed")
                .equals("true"));
  }

  /** The text of the first element matching {@code css}, read in one script ("" if none). */
  private static String text(String css) {
    return (String)
        ((JavascriptExecutor) browser)
            .executeScript(
                "const e = document.querySelector(arguments[0]); return e ? e.innerText : '';",
                css);
  }

  private static WebElement jobRow(String id) {
    return wait(
        ExpectedConditions.visibilityOfElementLocated(
            By.cssSelector("#job-table tr[data-job-id='" + id + "']")));
  }

  private static void awaitNoJobRow(String id) {
    waitFor(
        "job " + id + " to leave the filtered list",
        d -> d.findElements(By.cssSelector("#job-table tr[data-job-id='" + id + "']")).isEmpty());
  }

  private static String statusShown() {
    return browser.findElement(By.id("job-status")).getText();
  }

  private static List<String> eventMessages() {
    return browser.findElements(By.cssSelector("#event-table tbody tr td:last-child")).stream()
        .map(WebElement::getText)
        .toList();
  }

  /** The points of the chart's curve, as drawn: the vertices of its SVG polyline. */
  private static int points(String series) {
    // read in one script: the page redraws the chart on every refresh
    String coords =
        ((String)
                js(
                    "const l = document.querySelector('#chart-"
                        + series
                        + " svg polyline'); return l ? l.getAttribute('points') : '';"))
            .trim();
    return coords.isEmpty() ? 0 : coords.split("\\s+").length;
  }

  private static void awaitPoints(String series, int expected) {
    try {
      wait(d -> points(series) == expected);
    } catch (org.openqa.selenium.TimeoutException e) {
      fail(
          "the %s chart shows %d points, the metrics API has %d", series, points(series), expected);
    }
  }

  private static Object js(String script) {
    return ((JavascriptExecutor) browser).executeScript(script);
  }

  private static boolean visible(String id) {
    return browser.findElement(By.id(id)).isDisplayed();
  }

  private static <T> T wait(java.util.function.Function<? super WebDriver, T> condition) {
    // the list and the job page redraw their rows as they refresh: a stale element is retried
    return new WebDriverWait(browser, WAIT)
        .ignoring(org.openqa.selenium.StaleElementReferenceException.class)
        .until(condition);
  }

  /** {@link #wait} that fails naming what did not happen. */
  private static <T> T waitFor(
      String what, java.util.function.Function<? super WebDriver, T> condition) {
    try {
      return wait(condition);
    } catch (org.openqa.selenium.TimeoutException e) {
      return fail("waited %s for %s; the page shows:%n%s", WAIT, what, pageText());
    }
  }

  private static String pageText() {
    return browser.findElement(By.tagName("body")).getText();
  }

  private static void screenshot(String name) throws Exception {
    byte[] png = ((TakesScreenshot) browser).getScreenshotAs(OutputType.BYTES);
    Path dir = Files.createDirectories(Path.of("target", "console-screenshots"));
    Files.write(dir.resolve(name + ".png"), png);
    String docs = System.getProperty("distill.console.screenshots");
    if (docs != null && !docs.isBlank()) {
      Files.write(Files.createDirectories(Path.of(docs)).resolve(name + ".png"), png);
    }
  }

  // ---- the API, as the console's source of truth ----

  /** How many points the metrics API returns for the series (one page holds them all here). */
  private static int metricCount(String id, String name) throws Exception {
    JsonNode s =
        cluster.get("v1/jobs/" + id + "/metrics?names=" + name + "&limit=100000").get("series");
    return s.has(name) ? s.get(name).size() : 0;
  }

  /** This test as a worker: one lease, reported through the worker protocol over HTTP. */
  private record FakeWorker(Cluster cluster, String jobId, String token, String lease, long epoch) {

    static FakeWorker claim(Cluster cluster, String jobId) throws Exception {
      String token = cluster.workerToken();
      JsonNode c =
          cluster.send(
              token,
              "POST",
              "v1/worker/claims",
              Cluster.JSON.writeValueAsString(
                  Map.of(
                      "worker_id",
                      "console-fake-worker",
                      "capabilities",
                      Map.of("device", "cpu", "memory_mb", 16000),
                      "wait_seconds",
                      0)),
              200);
      assertThat(c.get("job").get("id").asString()).as("the claimed job").isEqualTo(jobId);
      return new FakeWorker(
          cluster, jobId, token, c.get("lease_id").asString(), c.get("epoch").asLong());
    }

    JsonNode metrics(List<Map<String, Object>> points) throws Exception {
      JsonNode r = post("metrics", Map.of("epoch", epoch, "points", points), 200);
      assertThat(r.get("accepted").asInt()).isEqualTo(points.size());
      return r;
    }

    void events(List<Map<String, Object>> events) throws Exception {
      post("events", Map.of("epoch", epoch, "events", events), 200);
    }

    void checkpoint(int step) throws Exception {
      Path dir =
          cluster.storageRoot.resolve("jobs/" + jobId + "/checkpoints/step-%06d".formatted(step));
      post(
          "checkpoints",
          Map.of(
              "epoch",
              epoch,
              "uri",
              "file:" + dir,
              "step",
              step,
              "size_bytes",
              123456789,
              "sha256",
              "0".repeat(64),
              "final",
              false),
          204);
    }

    JsonNode heartbeat() throws Exception {
      return post("heartbeat", Map.of("epoch", epoch, "step", 39), 200);
    }

    void failCancelled() throws Exception {
      post(
          "fail",
          Map.of(
              "epoch",
              epoch,
              "reason",
              "stopped for cancel",
              "retryable",
              false,
              "cancelled",
              true),
          204);
    }

    private JsonNode post(String what, Object body, int expected) throws Exception {
      return cluster.send(
          token,
          "POST",
          "v1/worker/leases/" + lease + "/" + what,
          Cluster.JSON.writeValueAsString(body),
          expected);
    }
  }
}
