package dev.distill.trainer.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.distill.spec.DatasetSpec;
import dev.distill.spec.MixSource;
import dev.distill.trainer.tokenize.ByteTokenizer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A mix opens each source on its own: raw text trains every token, instructions the responses. */
class DatasetsMixTest {

  private final ByteTokenizer tok = ByteTokenizer.instance();

  @TempDir Path tmp;

  private DatasetSpec mix(double validation) throws Exception {
    Path text = tmp.resolve("raw.txt");
    StringBuilder raw = new StringBuilder();
    for (int i = 0; i < 20; i++) {
      raw.append("plain document number ").append(i).append("\n\n");
    }
    Files.writeString(text, raw);
    Path alpaca = tmp.resolve("i.jsonl");
    List<String> lines = new ArrayList<>();
    for (int i = 0; i < 20; i++) {
      lines.add("{\"instruction\": \"Echo " + i + "\", \"output\": \"" + i + "\"}");
    }
    Files.write(alpaca, lines);
    return new DatasetSpec(
        null,
        null,
        "gemma",
        64,
        validation,
        true,
        null,
        null,
        3L,
        List.of(
            new MixSource("file:" + text, "text", 1.0, "raw"),
            new MixSource("file:" + alpaca, "alpaca", 1.0, "sft")));
  }

  @Test
  void eachSourceIsOpenedOnItsOwnAndConcatenated() throws Exception {
    DatasetSplits d = Datasets.open(mix(0.2), tok);
    assertThat(d.mix().names()).containsExactly("raw", "sft");
    List<Sequence> raw = d.mix().train().get(0);
    List<Sequence> sft = d.mix().train().get(1);
    assertThat(d.train()).hasSize(raw.size() + sft.size());
    assertThat(d.train().subList(0, raw.size())).isEqualTo(raw);
    // raw text: every token but the first is a target; instruction data: the responses only
    for (Sequence s : raw) {
      assertThat(s.lossTokens()).isEqualTo(s.length() - 1);
    }
    for (Sequence s : sft) {
      assertThat(s.lossTokens()).isLessThan(s.length() / 2);
    }
    assertThat(d.validationGroups().keySet()).containsExactly("raw", "sft");
    assertThat(d.trainStats().sequences()).isEqualTo(d.train().size());
  }

  @Test
  void aBadSourceIsNamedByItsIndex() throws Exception {
    DatasetSpec good = mix(0.0);
    DatasetSpec bad =
        new DatasetSpec(
            null,
            null,
            "gemma",
            64,
            0.0,
            true,
            null,
            null,
            3L,
            List.of(
                good.mix().get(0),
                new MixSource("file:" + tmp.resolve("none"), "text", 1.0, null)));
    assertThatThrownBy(() -> Datasets.open(bad, tok)).hasMessageStartingWith("mix[1]: ");
  }
}
