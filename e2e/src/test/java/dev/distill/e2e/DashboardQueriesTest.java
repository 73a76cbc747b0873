package dev.distill.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.distill.app.cluster.ClusterFiles;
import dev.distill.app.cluster.ClusterPlan;
import dev.distill.app.cluster.LocalCluster;
import dev.distill.app.control.ApiClient;
import dev.distill.app.control.JobsClient;
import dev.distill.app.demo.LocalProcesses;
import java.io.PrintWriter;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import tools.jackson.databind.JsonNode;

/**
 * The dashboards against a live local cluster: {@link LocalCluster}, the class behind {@code
 * ./distill cluster}, with two workers and Prometheus scraping every second, runs a short distill
 * job to the end; then every PromQL expression of every panel goes to that Prometheus's {@code
 * /api/v1/query} and every SQL panel to PostgreSQL as the read-only role, with the dashboards'
 * variables and Grafana's macros substituted. Each must return data. The one exception: the GPU
 * panels (DCGM exporter metric names) must be valid and return nothing, as no GPU and no DCGM
 * exporter run here. Last, the cluster stops and starts again on the same home and finds the job.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class DashboardQueriesTest {

  /** A distill job (so that KL is reported) of a few steps of the tiny model. */
  static final String SPEC =
      """
      {"type": "distill", "teacher": "builtin:gemma2-tiny", "student": "builtin:gemma2-tiny",
       "dataset": {"uri": "builtin:procedural", "num_examples": 64, "max_seq_len": 32},
       "hyperparameters": {"max_steps": 6, "batch_size": 2, "warmup_steps": 2},
       "metadata": {"name": "dashboards"}}
      """;

  /**
   * Grafana's built-in variables for a 6-hour range; {@code $__rate_interval} covers the whole job
   * (set in {@link #start}: on a loaded machine the job can take minutes, and its claim must be in
   * the window of the queue-wait panel), as Grafana's own would on a wide enough panel.
   */
  static final Map<String, String> BUILTINS =
      new LinkedHashMap<>(Map.of("__interval", "15s", "__range", "6h"));

  static final String SQL_RANGE = "6 hours";

  static Path home;
  static LocalCluster cluster;
  static String jobId;
  static final HttpClient HTTP = HttpClient.newHttpClient();

  @BeforeAll
  static void start() throws Exception {
    home = Files.createTempDirectory("distill-cluster-e2e-");
    cluster = LocalCluster.start(plan(2), new PrintWriter(System.out, true));
    cluster.printUrls(new PrintWriter(System.out, true));
    JobsClient jobs = new JobsClient(new ApiClient(cluster.serviceUrl(), cluster.adminToken()));
    Instant submitted = Instant.now();
    jobId = jobs.submit(Dashboards.JSON.readTree(SPEC), null).path("id").asString();
    Instant deadline = Instant.now().plus(Duration.ofMinutes(5));
    JsonNode job = jobs.job(jobId);
    while (!job.path("status").asString().equals("SUCCEEDED")) {
      assertThat(job.path("status").asString())
          .as("job %s; logs in %s", job, home.resolve("cluster/logs"))
          .isIn("QUEUED", "RUNNING");
      assertThat(Instant.now()).as("job did not succeed in 5 min: %s", job).isBefore(deadline);
      Thread.sleep(250);
      job = jobs.job(jobId);
    }
    // Prometheus has seen the end: the service's gauge and the worker's counter
    awaitPrometheus("max(distill_jobs{status=\"succeeded\"})", 1);
    awaitPrometheus("sum(distill_worker_jobs_finished_total)", 1);
    long window = Math.max(120, Duration.between(submitted, Instant.now()).toSeconds() + 60);
    BUILTINS.put("__rate_interval", window + "s");
  }

  static ClusterPlan plan(int workers) throws Exception {
    return new ClusterPlan(
        home,
        workers,
        LocalProcesses.freePort(),
        LocalProcesses.freePort(),
        Duration.ofSeconds(1),
        ClusterFiles.repoRoot(),
        ClusterPlan.DEBIAN_PROMETHEUS);
  }

  @AfterAll
  static void stop() throws Exception {
    if (cluster != null) {
      cluster.close();
    }
  }

  // ---- Prometheus

  static JsonNode query(String promql) throws Exception {
    URI u =
        cluster
            .prometheusUrl()
            .resolve("api/v1/query?query=" + URLEncoder.encode(promql, StandardCharsets.UTF_8));
    HttpResponse<String> r =
        HTTP.send(HttpRequest.newBuilder(u).build(), HttpResponse.BodyHandlers.ofString());
    JsonNode body = Dashboards.JSON.readTree(r.body());
    if (r.statusCode() != 200 || !body.path("status").asString().equals("success")) {
      throw new IllegalArgumentException("Prometheus refused " + promql + ": " + r.body());
    }
    return body.path("data");
  }

  /** The finite sample values of an instant query's answer. */
  static List<Double> finiteValues(JsonNode data) {
    List<JsonNode> samples = new ArrayList<>();
    if (data.path("resultType").asString().equals("scalar")) {
      samples.add(data.path("result"));
    } else {
      data.path("result").forEach(s -> samples.add(s.path("value")));
    }
    List<Double> out = new ArrayList<>();
    for (JsonNode s : samples) {
      double v = Double.parseDouble(s.get(1).asString());
      if (Double.isFinite(v)) {
        out.add(v);
      }
    }
    return out;
  }

  static void awaitPrometheus(String promql, double atLeast) throws Exception {
    Instant deadline = Instant.now().plus(Duration.ofSeconds(60));
    while (true) {
      List<Double> v = finiteValues(query(promql));
      if (!v.isEmpty() && v.get(0) >= atLeast) {
        return;
      }
      assertThat(Instant.now()).as("%s stayed below %s: %s", promql, atLeast, v).isBefore(deadline);
      Thread.sleep(500);
    }
  }

  /** The GPU panels' metrics, which only NVIDIA's DCGM exporter exports. */
  static boolean needsDcgm(String promql) {
    return promql.contains("DCGM_FI_");
  }

  /** Null when the panel's query answers as it must; else what is wrong. */
  static String check(Dashboards.Query q, Map<String, String> variables) {
    String promql = Dashboards.substitute(q.text(), variables);
    try {
      JsonNode data = query(promql);
      if (needsDcgm(promql)) {
        // the documented exception: valid, and empty where no DCGM exporter runs
        return data.path("result").isEmpty() ? null : q + " has DCGM data here?";
      }
      return finiteValues(data).isEmpty() ? q + " -> no data: " + data : null;
    } catch (Exception e) {
      return q + " -> " + e.getMessage();
    }
  }

  /** The dashboard's variables: ${worker} as Grafana's All of a multi-value variable. */
  static Map<String, String> promVariables() throws Exception {
    URI u =
        cluster
            .prometheusUrl()
            .resolve(
                "api/v1/label/worker/values?match[]="
                    + URLEncoder.encode("distill_worker_busy", StandardCharsets.UTF_8));
    JsonNode workers =
        Dashboards.JSON.readTree(
            HTTP.send(HttpRequest.newBuilder(u).build(), HttpResponse.BodyHandlers.ofString())
                .body());
    List<String> ids = new ArrayList<>();
    workers.path("data").forEach(w -> ids.add(w.asString()));
    assertThat(ids).containsExactlyInAnyOrderElementsOf(cluster.workerIds());
    Map<String, String> v = new LinkedHashMap<>(BUILTINS);
    v.put("worker", "(" + String.join("|", ids) + ")");
    return v;
  }

  @Test
  @Order(1)
  void everyPromQlQueryOfEveryPanelReturnsData() throws Exception {
    Map<String, String> variables = promVariables();
    List<String> problems = new ArrayList<>();
    int checked = 0;
    for (Map.Entry<String, JsonNode> d : Dashboards.all().entrySet()) {
      List<Dashboards.Query> queries = new ArrayList<>();
      queries.addAll(Dashboards.panelQueries(d.getKey(), d.getValue()));
      queries.addAll(Dashboards.variableQueries(d.getKey(), d.getValue()));
      for (Dashboards.Query q : queries) {
        if (!q.isPromQl()) {
          continue;
        }
        checked++;
        if (q.panel().startsWith("variable ")) {
          // label_values(metric, label): Grafana asks /api/v1/label/<label>/values; the metric must
          // exist
          String metric = q.text().replaceAll("label_values\\(([a-z_]+),.*", "$1");
          if (finiteValues(query(metric)).isEmpty()) {
            problems.add(q + " -> no series " + metric);
          }
          continue;
        }
        String problem = check(q, variables);
        if (problem != null) {
          problems.add(problem);
        }
      }
    }
    assertThat(checked).as("PromQL queries checked").isGreaterThanOrEqualTo(25);
    assertThat(problems).as("panels without data").isEmpty();
  }

  /** The check has teeth: a misspelt metric, a missing label value, a syntax error. */
  @Test
  @Order(2)
  void aBrokenQueryIsReported() throws Exception {
    Map<String, String> variables = promVariables();
    Dashboards.Query good =
        Dashboards.panelQueries("queue.json", Dashboards.all().get("queue.json")).get(0);
    assertThat(check(good, variables)).isNull();
    for (String broken :
        List.of(
            good.text().replace("distill_jobs", "distill_jobz"),
            good.text().replace("queued", "parked"),
            good.text().replace(")", ""))) {
      Dashboards.Query q =
          new Dashboards.Query(good.dashboard(), good.panel(), good.refId(), good.kind(), broken);
      assertThat(check(q, variables)).as(broken).isNotNull();
    }
  }

  // ---- PostgreSQL, as the read-only role

  static Connection reader() throws SQLException {
    return DriverManager.getConnection(
        cluster.readerJdbcUrl(), "distill_reader", cluster.readerPassword());
  }

  @Test
  @Order(3)
  void everySqlQueryOfEveryPanelReturnsRowsThroughTheReadOnlyRole() throws Exception {
    List<String> problems = new ArrayList<>();
    int checked = 0;
    try (Connection c = reader();
        Statement s = c.createStatement()) {
      for (Map.Entry<String, JsonNode> d : Dashboards.all().entrySet()) {
        // the job variable first: the newest job, ours, is its first value
        Map<String, String> variables = new LinkedHashMap<>(BUILTINS);
        for (Dashboards.Query v : Dashboards.variableQueries(d.getKey(), d.getValue())) {
          if (v.isPromQl()) {
            continue;
          }
          checked++;
          try (ResultSet rs = s.executeQuery(v.text())) {
            assertThat(rs.next()).as("%s returned no rows", v).isTrue();
            assertThat(rs.getString("__value")).as(v.toString()).isEqualTo(jobId);
            assertThat(rs.getString("__text")).as(v.toString()).startsWith("dashboards ");
          }
          variables.put(v.panel().substring("variable $".length()), jobId);
        }
        for (Dashboards.Query q : Dashboards.panelQueries(d.getKey(), d.getValue())) {
          if (q.isPromQl()) {
            continue;
          }
          checked++;
          String sql =
              Dashboards.expandSqlMacros(Dashboards.substitute(q.text(), variables), SQL_RANGE);
          try (ResultSet rs = s.executeQuery(sql)) {
            if (!rs.next()) {
              problems.add(q + " -> no rows");
            }
          } catch (SQLException e) {
            problems.add(q + " -> " + e.getMessage());
          }
        }
      }
    }
    assertThat(checked).as("SQL queries checked").isGreaterThanOrEqualTo(7);
    assertThat(problems).as("SQL panels without rows").isEmpty();
  }

  @Test
  @Order(4)
  void theReadOnlyRoleCannotWrite() throws Exception {
    try (Connection c = reader();
        Statement s = c.createStatement()) {
      for (String write :
          List.of(
              "UPDATE jobs SET priority = 99",
              "DELETE FROM job_metrics",
              "INSERT INTO job_dependencies SELECT id, id FROM jobs",
              "TRUNCATE jobs CASCADE",
              "SELECT token_hash FROM api_tokens",
              "CREATE TABLE notes (x int)")) {
        assertThatThrownBy(() -> s.execute(write))
            .as(write)
            .isInstanceOf(SQLException.class)
            .hasFieldOrPropertyWithValue("SQLState", "42501");
      }
    }
  }

  /**
   * Ctrl-C loses nothing: stopped and started again on the same home, the job and its series are
   * there.
   */
  @Test
  @Order(5)
  void aRestartOnTheSameHomeFindsTheJobAndTheSeries() throws Exception {
    cluster.close();
    cluster = LocalCluster.start(plan(0), new PrintWriter(System.out, true));
    JsonNode job =
        new JobsClient(new ApiClient(cluster.serviceUrl(), cluster.adminToken())).job(jobId);
    assertThat(job.path("status").asString()).isEqualTo("SUCCEEDED");
    List<Double> steps =
        finiteValues(query("max_over_time(sum(distill_worker_steps_total)[1h:1s])"));
    assertThat(steps).as("the last cluster's worker series").isNotEmpty();
    assertThat(steps.get(0)).isGreaterThanOrEqualTo(6);
    try (Connection c = reader();
        ResultSet rs =
            c.createStatement()
                .executeQuery("SELECT count(*) FROM job_metrics WHERE job_id = '" + jobId + "'")) {
      rs.next();
      assertThat(rs.getInt(1)).isGreaterThan(0);
    }
  }
}
