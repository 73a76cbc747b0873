package dev.distill.app.cli;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.distill.trainer.model.gemma2.Gemma2Config;
import dev.distill.trainer.model.gemma2.Gemma2Model;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.json.JsonMapper;

class LogitsCommandTest {

  @TempDir static Path dir;
  static float[] expected; // (3, V) logits of tokens 2, 17, 45 computed in process
  static int vocab;

  @BeforeAll
  static void saveAModel() {
    try (NDManager m = NDManager.newBaseManager();
        Gemma2Model model =
            Gemma2Model.init(
                Gemma2Config.preset("gemma2-tiny").withOverrides(Map.of("vocab_size", 64)), m, 3)) {
      NDArray ten = m.full(new Shape(), 10f);
      model.parameters().values().forEach(p -> p.muli(ten));
      model.save(dir);
      expected =
          model.forward(m.create(new long[] {2, 17, 45}, new Shape(1, 3)), null).toFloatArray();
      vocab = model.vocabSize();
    }
  }

  record Run(int code, String out, String err) {}

  static Run run(String... args) {
    PrintStream oldOut = System.out;
    PrintStream oldErr = System.err;
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    try {
      System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
      System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
      int code = DistillCli.execute(args);
      return new Run(
          code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    } finally {
      System.setOut(oldOut);
      System.setErr(oldErr);
    }
  }

  @Test
  @SuppressWarnings("unchecked")
  void printsLogsumexpAndTheTopFiveOfEveryPosition() {
    Run r = run("logits", "--model", dir.toString(), "--tokens", "2,17,45");
    assertThat(r.code()).as(r.err()).isZero();
    Map<String, Object> json = JsonMapper.builder().build().readValue(r.out(), Map.class);
    List<Map<String, Object>> positions = (List<Map<String, Object>>) json.get("positions");
    assertThat(positions).hasSize(3);
    for (int p = 0; p < 3; p++) {
      double max = Double.NEGATIVE_INFINITY;
      for (int k = 0; k < vocab; k++) {
        max = Math.max(max, expected[p * vocab + k]);
      }
      double sum = 0;
      for (int k = 0; k < vocab; k++) {
        sum += Math.exp(expected[p * vocab + k] - max);
      }
      assertThat(((Number) positions.get(p).get("logsumexp")).doubleValue())
          .isCloseTo(max + Math.log(sum), org.assertj.core.data.Offset.offset(1e-5));
      List<Map<String, Object>> top = (List<Map<String, Object>>) positions.get(p).get("top");
      assertThat(top).hasSize(5);
      double prev = Double.POSITIVE_INFINITY;
      for (Map<String, Object> e : top) {
        int id = ((Number) e.get("id")).intValue();
        double logit = ((Number) e.get("logit")).doubleValue();
        assertThat(logit)
            .isEqualTo(expected[p * vocab + id], org.assertj.core.data.Offset.offset(1e-6));
        assertThat(logit).isLessThanOrEqualTo(prev);
        prev = logit;
      }
      assertThat(((Number) top.get(0).get("logit")).doubleValue())
          .isEqualTo(max, org.assertj.core.data.Offset.offset(1e-6));
      int fifthAbove = 0;
      for (int k = 0; k < vocab; k++) {
        if (expected[p * vocab + k] > prev) {
          fifthAbove++;
        }
      }
      assertThat(fifthAbove).isEqualTo(4); // exactly four logits beat the fifth
    }
  }

  @Test
  void runsInAFreshJvmWhereNothingLoadedTheEngineYet() throws Exception {
    Path java = Path.of(System.getProperty("java.home"), "bin", "java");
    Process p =
        new ProcessBuilder(
                java.toString(),
                "-Dai.djl.offline=true",
                "-cp",
                System.getProperty("java.class.path"),
                DistillCli.class.getName(),
                "logits",
                "--model",
                dir.toString(),
                "--tokens",
                "2,17,45")
            .redirectError(ProcessBuilder.Redirect.DISCARD)
            .start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor()).as(out).isZero();
    assertThat(out).startsWith("{\"positions\":[{\"logsumexp\":");
  }

  @Test
  void badTokensFailWithOneLineOnStderr() {
    Run r = run("logits", "--model", dir.toString(), "--tokens", "2,x,45");
    assertThat(r.code()).isNotZero();
    assertThat(r.out()).isEmpty();
    assertThat(r.err().strip()).doesNotContain("\n").contains("'x' is not a token id");
    Run outside = run("logits", "--model", dir.toString(), "--tokens", "2,64");
    assertThat(outside.code()).isNotZero();
    assertThat(outside.err().strip()).doesNotContain("\n").contains("64").contains("vocabulary");
  }

  @Test
  void aMissingModelFailsWithOneLineOnStderr() {
    Run r = run("logits", "--model", dir.resolve("nope").toString(), "--tokens", "2");
    assertThat(r.code()).isNotZero();
    assertThat(r.err().strip()).doesNotContain("\n").contains("nope");
  }
}
