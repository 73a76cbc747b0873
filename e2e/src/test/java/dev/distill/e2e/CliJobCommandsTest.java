package dev.distill.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.distill.app.demo.LocalProcesses;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import tools.jackson.databind.JsonNode;

/**
 * The job commands of {@code ./distill} (submit, jobs, job, cancel, follow, metrics, checkpoints)
 * run as separate JVMs against the real service and a real worker, as a user runs them: the service
 * location and token come from DISTILL_URL and DISTILL_TOKEN, and the tests read exit codes, stdout
 * and stderr. What the commands claim is checked against the REST API.
 *
 * <p>A process per command (about 1 to 2 s each) rather than {@code CommandLine.execute} in this
 * JVM: only a process reads its own environment, exits through {@code System.exit} and runs
 * shutdown hooks, and those are part of what is tested.
 */
class CliJobCommandsTest {

  /** Tiny finetune: 4 steps of the tiny model, checkpoints at 2 and 4. */
  static final String RUN =
      """
      {"type": "finetune", "student": "builtin:gemma2-tiny",
       "dataset": {"uri": "builtin:procedural", "num_examples": 64, "max_seq_len": 32},
       "hyperparameters": {"max_steps": 4, "batch_size": 2, "checkpoint_every": 2}}
      """;

  /** Asks for a worker label no worker has, so the job stays QUEUED while the worker runs. */
  static final String PARKED =
      RUN.replace(
          "\"checkpoint_every\": 2}",
          "\"checkpoint_every\": 2},\n \"requirements\": {\"labels\": {\"pool\": \"nowhere\"}}");

  static final String PARKED_YAML =
      """
      # the same job as YAML
      type: finetune
      student: builtin:gemma2-tiny
      dataset:
        uri: builtin:procedural
        num_examples: 64
        max_seq_len: 32
      hyperparameters: {max_steps: 4, batch_size: 2, checkpoint_every: 2}
      requirements:
        labels: {pool: nowhere}
      metadata:
        written_as: yaml
      """;

  /**
   * A config the spec accepts (a known key) but the worker cannot build: it fails at the start, not
   * retryably. (An unknown preset is refused at submission.)
   */
  static final String FAILS =
      RUN.replace(
          "\"builtin:gemma2-tiny\"",
          "{\"uri\": \"builtin:gemma2-tiny\", \"config\": {\"num_key_value_heads\": 3}}");

  static final Pattern UUID_RE =
      Pattern.compile("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}");
  static final Duration JOB_TIMEOUT = Duration.ofSeconds(90);

  static Cluster cluster;
  static Cli cli;
  static Path specs;

  @BeforeAll
  static void start() throws Exception {
    cluster = new Cluster("6s");
    cluster.startWorker("w-cli");
    specs = Files.createDirectories(cluster.home.resolve("specs"));
    cli =
        new Cli(
            cluster.home.resolve("cli"),
            Map.of("DISTILL_URL", cluster.base.toString(), "DISTILL_TOKEN", Cluster.ADMIN_TOKEN));
  }

  @AfterAll
  static void stop() throws Exception {
    if (cluster != null) {
      cluster.close();
    }
  }

  // ---- submit ----

  @Test
  @Timeout(value = 60, unit = TimeUnit.SECONDS)
  void submitOfAJsonSpecPrintsTheNewQueuedJob() throws Exception {
    Path file = spec("parked.json", PARKED);

    Cli.Result table = cli.run("submit", file.toString());

    assertSucceeded(table);
    assertThat(words(table.outLines().get(0)))
        .containsExactly("ID", "TYPE", "STATUS", "ATTEMPTS", "WORKER");
    String id = onlyId(table);
    assertThat(words(table.outLines().get(1))).containsExactly(id, "finetune", "QUEUED", "0", "-");
    JsonNode job = cluster.job(id);
    assertThat(job.get("status").asString()).isEqualTo("QUEUED");
    assertThat(job.at("/spec/dataset/max_seq_len").asInt()).isEqualTo(32);
    assertThat(job.at("/spec/requirements/labels/pool").asString()).isEqualTo("nowhere");

    Cli.Result json = cli.run("submit", "-o", "json", file.toString());

    assertSucceeded(json);
    JsonNode printed = Cluster.JSON.readTree(json.out());
    String id2 = printed.get("id").asString();
    assertThat(id2).isNotEqualTo(id);
    assertThat(printed.get("status").asString()).isEqualTo("QUEUED");
    assertThat(printed.get("spec")).isEqualTo(cluster.job(id2).get("spec"));
  }

  @Test
  @Timeout(value = 60, unit = TimeUnit.SECONDS)
  void submitOfAYamlSpecCreatesTheSameJob() throws Exception {
    Cli.Result r = cli.run("submit", spec("parked.yaml", PARKED_YAML).toString());

    assertSucceeded(r);
    JsonNode job = cluster.job(onlyId(r));
    assertThat(job.get("status").asString()).isEqualTo("QUEUED");
    assertThat(job.at("/spec/metadata/written_as").asString()).isEqualTo("yaml");
    assertThat(job.at("/spec/requirements/labels/pool").asString()).isEqualTo("nowhere");
    assertThat(job.at("/spec/hyperparameters/max_steps").asInt()).isEqualTo(4);
    assertThat(job.at("/spec/dataset/num_examples").asInt()).isEqualTo(64);
  }

  @Test
  @Timeout(value = 90, unit = TimeUnit.SECONDS)
  void submitOfAnInvalidSpecNamesTheFieldAndCreatesNothing() throws Exception {
    int before = jobCount();

    Cli.Result badValue =
        cli.run(
            "submit",
            spec(
                    "bad-lr.json",
                    RUN.replace("\"batch_size\": 2", "\"batch_size\": 2, \"learning_rate\": -0.5"))
                .toString());
    Cli.Result unknownField =
        cli.run(
            "submit",
            spec("bad-field.yaml", PARKED_YAML.replace("checkpoint_every: 2", "chekpoint_every: 2"))
                .toString());
    // accepted by the spec records, rejected by the service (the referenced job does not exist)
    String missing = UUID.randomUUID().toString();
    Cli.Result rejected =
        cli.run(
            "submit",
            spec("bad-ref.json", RUN.replace("builtin:gemma2-tiny", "job:" + missing)).toString());

    assertOneLineError(badValue, "bad-lr.json", "hyperparameters.learning_rate", "-0.5");
    assertOneLineError(unknownField, "bad-field.yaml", "hyperparameters.chekpoint_every");
    assertOneLineError(rejected, "422", "student.uri", missing);
    String line = rejected.errLines().get(0);
    assertThat(line.indexOf(missing))
        .as("said once: %s", line)
        .isEqualTo(line.lastIndexOf(missing));
    assertThat(jobCount()).as("jobs after the rejected submits").isEqualTo(before);
  }

  // ---- jobs, job ----

  @Test
  @Timeout(value = 60, unit = TimeUnit.SECONDS)
  void jobsListsTheSubmittedJobsNewestFirst() throws Exception {
    String older = cluster.createJob(PARKED);
    String newer = cluster.createJob(PARKED);

    Cli.Result table = cli.run("jobs");
    Cli.Result json = cli.run("jobs", "-o", "json");

    assertSucceeded(table);
    List<String> lines = table.outLines();
    assertThat(words(lines.get(0)))
        .containsExactly("ID", "NAME", "TYPE", "STATUS", "ATTEMPTS", "CREATED", "DURATION");
    int newerAt = lineStartingWith(lines, newer);
    int olderAt = lineStartingWith(lines, older);
    assertThat(newerAt).as("newest first: %s", table).isLessThan(olderAt);
    assertThat(words(lines.get(olderAt))).startsWith(older, "-", "finetune", "QUEUED", "0");
    // not started: no duration yet
    assertThat(words(lines.get(olderAt))).endsWith("-");

    assertSucceeded(json);
    List<String> ids = new ArrayList<>();
    Cluster.JSON.readTree(json.out()).get("items").forEach(j -> ids.add(j.get("id").asString()));
    assertThat(ids).containsSubsequence(newer, older);
  }

  @Test
  @Timeout(value = 60, unit = TimeUnit.SECONDS)
  void jobShowsTheStatus() throws Exception {
    String id = cluster.createJob(PARKED);

    Cli.Result table = cli.run("job", id);
    Cli.Result json = cli.run("job", id, "-o", "json");
    Cli.Result unknown = cli.run("job", UUID.randomUUID().toString());

    assertSucceeded(table);
    assertThat(words(table.outLines().get(1))).containsExactly(id, "finetune", "QUEUED", "0", "-");
    assertSucceeded(json);
    assertThat(Cluster.JSON.readTree(json.out())).isEqualTo(cluster.job(id));
    assertOneLineError(unknown, "404", "not found");
  }

  // ---- cancel ----

  @Test
  @Timeout(value = 60, unit = TimeUnit.SECONDS)
  void cancelOfAQueuedJobEndsItCancelled() throws Exception {
    String id = cluster.createJob(PARKED);

    Cli.Result r = cli.run("cancel", id);

    assertSucceeded(r);
    assertThat(words(r.outLines().get(1))).startsWith(id, "finetune", "CANCELLED");
    assertThat(cluster.job(id).get("status").asString()).isEqualTo("CANCELLED");
  }

  // ---- follow, metrics, checkpoints on real runs ----

  @Test
  @Timeout(value = 150, unit = TimeUnit.SECONDS)
  void followOfASucceedingJobExitsZeroThenMetricsCheckpointsAndCancelShowIt() throws Exception {
    String id = cluster.createJob(RUN);

    Cli.Result follow = cli.run(JOB_TIMEOUT, "follow", id);

    assertThat(follow.exit()).as("%s", follow).isZero();
    assertThat(follow.out()).contains("started:", "finished:", "4/4");
    assertThat(follow.out()).doesNotContain("detached");
    JsonNode job = cluster.job(id);
    assertThat(job.get("status").asString()).isEqualTo("SUCCEEDED");
    // the validation pass and the checkpoints are events; the end: status, final metrics, output
    assertThat(follow.out())
        .containsPattern("validation: step 4: val_loss \\d")
        .containsPattern("checkpoint: step 2: \\S+step-0+2 \\(")
        .containsPattern("checkpoint: step 4, final: ");
    List<String> end =
        follow.outLines().subList(follow.outLines().size() - 3, follow.outLines().size());
    assertThat(end.get(0)).isEqualTo("SUCCEEDED");
    assertThat(end.get(1))
        .startsWith("final metrics: ")
        .contains(
            "ce ",
            "loss ",
            "val_loss " + shortValue(job.at("/latest_metrics/val_loss").asDouble()));
    assertThat(end.get(2)).isEqualTo("output: " + job.get("output_uri").asString());
    // -o json: no progress, only the ended job as JSON, for scripts
    Cli.Result followJson = cli.run("follow", id, "-o", "json");
    assertThat(followJson.exit()).as("%s", followJson).isZero();
    assertThat(Cluster.JSON.readTree(followJson.out()).get("status").asString())
        .isEqualTo("SUCCEEDED");
    assertThat(followJson.out()).doesNotContain("started:");

    // metrics: finetune reports loss and ce (no kl) for steps 1..4, the values the API holds
    TreeMap<Long, Double> loss = cluster.series(id, "loss");
    assertThat(loss.keySet()).containsExactly(1L, 2L, 3L, 4L);
    // a user with a German locale: still a decimal point, as the API and a parser expect
    Cli.Result metrics =
        cli.withJvmOptions("-Duser.language=de", "-Duser.country=DE").run("metrics", id);
    assertSucceeded(metrics);
    assertThat(words(metrics.outLines().get(0))).containsExactly("NAME", "STEP", "VALUE");
    TreeMap<Long, Double> shownLoss = new TreeMap<>();
    List<String> names = new ArrayList<>();
    for (String line : metrics.outLines().subList(1, metrics.outLines().size())) {
      String[] w = words(line);
      assertThat(w).as("row '%s'", line).hasSize(3);
      names.add(w[0]);
      if (w[0].equals("loss")) {
        shownLoss.put(Long.parseLong(w[1]), Double.parseDouble(w[2]));
      }
    }
    // the default series include the validation loss (reported once, at the end)
    assertThat(names).containsOnly("loss", "ce", "val_loss").hasSize(9);
    assertThat(shownLoss.keySet()).isEqualTo(loss.keySet());
    loss.forEach(
        (step, v) ->
            assertThat(shownLoss.get(step)).as("loss at %d", step).isCloseTo(v, within(1e-3 * v)));

    Cli.Result metricsJson = cli.run("metrics", id, "--names", "loss", "-o", "json");
    assertSucceeded(metricsJson);
    JsonNode series = Cluster.JSON.readTree(metricsJson.out()).get("series");
    assertThat(series.size()).as("series %s", series).isEqualTo(1);
    TreeMap<Long, Double> jsonLoss = new TreeMap<>();
    series
        .get("loss")
        .forEach(p -> jsonLoss.put(p.get("step").asLong(), p.get("value").asDouble()));
    assertThat(jsonLoss).isEqualTo(loss);

    // checkpoints: steps 2 and 4, the last one final and the job's output
    List<JsonNode> checkpoints = cluster.checkpoints(id);
    assertThat(checkpoints.stream().map(c -> c.get("step").asLong())).containsExactly(2L, 4L);
    Cli.Result cps = cli.run("checkpoints", id);
    assertSucceeded(cps);
    assertThat(words(cps.outLines().get(0))).containsExactly("STEP", "FINAL", "SIZE", "URI");
    assertThat(cps.outLines()).hasSize(3);
    for (int i = 0; i < 2; i++) {
      JsonNode c = checkpoints.get(i);
      assertThat(words(cps.outLines().get(1 + i)))
          .containsExactly(
              c.get("step").asString(),
              c.get("final").asString(),
              c.get("size_bytes").asString(),
              c.get("uri").asString());
    }
    assertThat(words(cps.outLines().get(2))[1]).isEqualTo("true");
    assertThat(words(cps.outLines().get(2))[3]).isEqualTo(job.get("output_uri").asString());
    Cli.Result cpsJson = cli.run("checkpoints", id, "-o", "json");
    assertSucceeded(cpsJson);
    assertThat(Cluster.JSON.readTree(cpsJson.out()).get("items"))
        .isEqualTo(cluster.get("v1/jobs/" + id + "/checkpoints").get("items"));

    // cancel of the finished job: 409 in one line, nothing changes
    Cli.Result cancel = cli.run("cancel", id);
    assertOneLineError(cancel, "409", id, "SUCCEEDED");
    assertThat(cluster.job(id).get("status").asString()).isEqualTo("SUCCEEDED");
  }

  @Test
  @Timeout(value = 120, unit = TimeUnit.SECONDS)
  void followOfAFailingJobExitsOneWithTheReason() throws Exception {
    String id = cluster.createJob(FAILS);

    Cli.Result follow = cli.run(JOB_TIMEOUT, "follow", id);

    assertThat(follow.exit()).as("%s", follow).isEqualTo(1);
    assertThat(lastLine(follow)).startsWith("FAILED: ").contains("num_key_value_heads");
    assertThat(cluster.job(id).get("status").asString()).isEqualTo("FAILED");
  }

  @Test
  @Timeout(value = 90, unit = TimeUnit.SECONDS)
  void followOfAJobCancelledWhileFollowedExitsThree() throws Exception {
    String id = cluster.createJob(PARKED);
    Cli.Started follow = cli.start("follow", id);
    follow.awaitOutput("status: created", Duration.ofSeconds(40));
    assertThat(cluster.job(id).get("status").asString()).isEqualTo("QUEUED");

    cluster.cancel(id);
    Cli.Result r = follow.await(Duration.ofSeconds(30));

    assertThat(r.exit()).as("%s", r).isEqualTo(3);
    assertThat(lastLine(r)).isEqualTo("CANCELLED");
  }

  @Test
  @Timeout(value = 90, unit = TimeUnit.SECONDS)
  void ctrlCDetachesFollowWithExit130AndTheJobGoesOn() throws Exception {
    String id = cluster.createJob(PARKED);
    Cli.Started follow = cli.start("follow", id);
    follow.awaitOutput("status: created", Duration.ofSeconds(40));

    // what a terminal sends on Ctrl-C
    Process kill =
        new ProcessBuilder("kill", "-INT", Long.toString(follow.process().pid())).start();
    assertThat(kill.waitFor()).isZero();
    Cli.Result r = follow.await(Duration.ofSeconds(30));

    assertThat(r.exit()).as("%s", r).isEqualTo(130);
    assertThat(lastLine(r)).isEqualTo("detached; the job goes on (distill follow " + id + ")");
    assertThat(cluster.job(id).get("status").asString()).isEqualTo("QUEUED");
    cluster.cancel(id);
  }

  @Test
  @Timeout(value = 60, unit = TimeUnit.SECONDS)
  void followOfAnUnknownJobFailsInOneLine() throws Exception {
    Cli.Result r = cli.run("follow", UUID.randomUUID().toString());

    // and prints nothing else: no "detached" from the Ctrl-C hook at exit
    assertOneLineError(r, "404", "not found");
  }

  // ---- chaining, names and durations ----

  @Test
  @Timeout(value = 90, unit = TimeUnit.SECONDS)
  void submitWithSetChainsAJobToAnotherAndJobsShowsNameAndDuration() throws Exception {
    Cli.Result teacher = cli.run("submit", "-q", spec("teacher.json", PARKED).toString());
    assertSucceeded(teacher);
    assertThat(teacher.outLines()).hasSize(1);
    String teacherId = teacher.outLines().get(0);
    assertThat(teacherId).matches(UUID_RE);

    Cli.Result student =
        cli.run(
            "submit",
            "-q",
            spec("student.json", PARKED).toString(),
            "--set",
            "type=distill",
            "--set",
            "teacher=job:" + teacherId,
            "--set",
            "hyperparameters.max_steps=3",
            "--set",
            "metadata.name=chained");
    assertSucceeded(student);
    String studentId = student.outLines().get(0);
    JsonNode job = cluster.job(studentId);
    assertThat(job.get("type").asString()).isEqualTo("distill");
    assertThat(job.at("/spec/teacher/uri").asString()).isEqualTo("job:" + teacherId);
    assertThat(job.at("/spec/hyperparameters/max_steps").asInt()).isEqualTo(3);

    Cli.Result jobs = cli.run("jobs");
    assertSucceeded(jobs);
    assertThat(words(jobs.outLines().get(lineStartingWith(jobs.outLines(), studentId))))
        .startsWith(studentId, "chained", "distill", "QUEUED");
    Cli.Result bad = cli.run("submit", spec("s.json", PARKED).toString(), "--set", "teacher");
    assertOneLineError(bad, "--set teacher: expected FIELD=VALUE");
    cluster.cancel(teacherId);

    // a finished job's duration: started to finished
    String ran =
        cluster.createJob(RUN.replace("}}\n", "},\n \"metadata\": {\"name\": \"timed\"}}\n"));
    assertThat(cli.run(JOB_TIMEOUT, "follow", ran).exit()).isZero();
    Cli.Result done = cli.run("jobs");
    String[] row = words(done.outLines().get(lineStartingWith(done.outLines(), ran)));
    assertThat(row).startsWith(ran, "timed", "finetune", "SUCCEEDED", "1");
    assertThat(row[row.length - 1]).matches("\\d+s|\\d+m\\d{2}s");
  }

  // ---- help on every command ----

  @Test
  @Timeout(value = 240, unit = TimeUnit.SECONDS)
  void helpWorksOnEveryCommand() throws Exception {
    List<List<String>> commands = new ArrayList<>();
    collect(new picocli.CommandLine(new dev.distill.app.cli.DistillCli()), List.of(), commands);
    assertThat(commands)
        .contains(
            List.of("submit"), List.of("follow"), List.of("token", "create"), List.of("demo"));
    for (List<String> command : commands) {
      List<String> args = new ArrayList<>(command);
      args.add("--help");
      Cli.Result r = cli.run(args.toArray(String[]::new));
      assertThat(r.exit()).as("%s", r).isZero();
      assertThat(r.out()).as("%s", r).startsWith("Usage: distill " + String.join(" ", command));
      assertThat(r.out()).as("%s", r).contains("-h, --help");
    }
  }

  private static void collect(picocli.CommandLine cl, List<String> prefix, List<List<String>> out) {
    cl.getSubcommands()
        .forEach(
            (name, sub) -> {
              List<String> command = new ArrayList<>(prefix);
              command.add(name);
              out.add(command);
              collect(sub, command, out);
            });
  }

  // ---- tokens ----

  @Test
  @Timeout(value = 60, unit = TimeUnit.SECONDS)
  void tokenCreateMakesAWorkerTokenThatTheServiceAccepts() throws Exception {
    Cli.Result r = cli.run("token", "create", "--role", "worker", "--name", "e2e-pool");

    assertThat(r.exit()).as("%s", r).isZero();
    assertThat(r.outLines()).hasSize(1);
    String token = r.outLines().get(0);
    assertThat(token).startsWith("dst_");
    assertThat(r.err()).contains("e2e-pool", "worker", "not shown again");
    // a worker token: refused on user routes (403), where an unknown token is 401
    assertOneLineError(cli.withEnv("DISTILL_TOKEN", token).run("jobs"), "403");

    Cli.Result json =
        cli.run("token", "create", "--role", "viewer", "--name", "e2e-viewer", "-o", "json");
    assertSucceeded(json);
    JsonNode created = Cluster.JSON.readTree(json.out());
    assertThat(created.get("role").asString()).isEqualTo("viewer");
    assertThat(created.get("name").asString()).isEqualTo("e2e-viewer");
    assertSucceeded(cli.withEnv("DISTILL_TOKEN", created.get("token").asString()).run("jobs"));

    Cli.Result missing = cli.run("token", "create", "--name", "x");
    assertThat(missing.exit()).isNotZero();
    assertThat(missing.err()).contains("--role");

    // list shows the tokens (never a secret); revoke makes the next request a 401
    Cli.Result list = cli.run("token", "list", "-o", "json");
    assertSucceeded(list);
    assertThat(list.out()).doesNotContain(token);
    JsonNode pool = null;
    for (JsonNode t : Cluster.JSON.readTree(list.out()).get("items")) {
      if (t.get("name").asString().equals("e2e-pool")) {
        pool = t;
      }
    }
    assertThat(pool).as("e2e-pool in %s", list.out()).isNotNull();
    assertThat(cli.run("token", "list").out()).contains("e2e-pool", "worker");
    Cli.Result revoked = cli.run("token", "revoke", pool.get("id").asString());
    assertThat(revoked.exit()).as("%s", revoked).isZero();
    assertThat(revoked.err()).contains("revoked");
    assertOneLineError(cli.withEnv("DISTILL_TOKEN", token).run("jobs"), "401");
    assertOneLineError(cli.run("token", "revoke", pool.get("id").asString()), "404");

    Cli.Result expiring =
        cli.run(
            "token", "create", "--role", "viewer", "--name", "e2e-ttl", "--ttl", "PT1H", "-o",
            "json");
    assertSucceeded(expiring);
    assertThat(Cluster.JSON.readTree(expiring.out()).get("expires_at").isNull()).isFalse();
  }

  // ---- connection: token, URL, flags ----

  @Test
  @Timeout(value = 60, unit = TimeUnit.SECONDS)
  void aWrongTokenIsA401InOneLine() throws Exception {
    Cli.Result r = cli.withEnv("DISTILL_TOKEN", "not-a-valid-token").run("jobs");

    assertOneLineError(r, "401");
  }

  @Test
  @Timeout(value = 90, unit = TimeUnit.SECONDS)
  void anUnreachableOrMalformedUrlIsOneLine() throws Exception {
    String nowhere = "http://127.0.0.1:" + LocalProcesses.freePort();
    Cli unreachable = cli.withEnv("DISTILL_URL", nowhere);

    Cli.Result jobs = unreachable.run("jobs");
    Cli.Result follow =
        unreachable.run(Duration.ofSeconds(30), "follow", UUID.randomUUID().toString());
    Cli.Result noScheme = cli.withEnv("DISTILL_URL", "127.0.0.1:" + cluster.port).run("jobs");

    assertOneLineError(jobs, "cannot reach the service at " + nowhere + "/");
    assertOneLineError(follow, "cannot reach the service at " + nowhere + "/");
    assertOneLineError(noScheme, "DISTILL_URL", "'127.0.0.1:" + cluster.port + "'");
  }

  @Test
  @Timeout(value = 60, unit = TimeUnit.SECONDS)
  void urlAndTokenFlagsOverrideTheEnvironment() throws Exception {
    String id = cluster.createJob(PARKED);
    Cli wrongEnv =
        cli.withEnv("DISTILL_URL", "http://127.0.0.1:" + LocalProcesses.freePort())
            .withEnv("DISTILL_TOKEN", "not-a-valid-token");

    Cli.Result r =
        wrongEnv.run("job", id, "--url", cluster.base.toString(), "--token", Cluster.ADMIN_TOKEN);

    assertSucceeded(r);
    assertThat(words(r.outLines().get(1))).startsWith(id, "finetune", "QUEUED");
  }

  // ---- helpers ----

  static Path spec(String name, String content) throws Exception {
    return Files.writeString(specs.resolve(name), content);
  }

  static void assertSucceeded(Cli.Result r) {
    assertThat(r.exit()).as("%s", r).isZero();
    assertThat(r.err()).as("stderr of %s", r).isEmpty();
  }

  /** Non-zero exit, nothing on stdout, one line {@code distill: ...} on stderr. */
  static void assertOneLineError(Cli.Result r, String... mentions) {
    assertThat(r.exit()).as("%s", r).isNotZero();
    assertThat(r.out()).as("stdout of %s", r).isEmpty();
    assertThat(r.errLines()).as("stderr of %s", r).hasSize(1);
    assertThat(r.errLines().get(0)).startsWith("distill: ").contains(mentions);
  }

  /** The one job id the command printed. */
  static String onlyId(Cli.Result r) {
    Matcher m = UUID_RE.matcher(r.out());
    List<String> ids = new ArrayList<>();
    while (m.find()) {
      ids.add(m.group());
    }
    assertThat(ids).as("job ids in %s", r).hasSize(1);
    return ids.get(0);
  }

  /** A metric value as the CLI prints it: four significant digits. */
  static String shortValue(double v) {
    return String.format(java.util.Locale.ROOT, "%.4g", v);
  }

  static String lastLine(Cli.Result r) {
    List<String> lines = r.outLines();
    assertThat(lines).as("stdout of %s", r).isNotEmpty();
    return lines.get(lines.size() - 1);
  }

  static String[] words(String line) {
    return line.trim().split("\\s+");
  }

  static int lineStartingWith(List<String> lines, String id) {
    for (int i = 0; i < lines.size(); i++) {
      if (lines.get(i).startsWith(id + " ")) {
        return i;
      }
    }
    throw new AssertionError(id + " not listed in " + lines);
  }

  static int jobCount() throws Exception {
    return cluster.get("v1/jobs?limit=100").get("items").size();
  }
}
