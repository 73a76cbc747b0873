package dev.distill.spec;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import java.util.List;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.ObjectMapper;

/** {@code dataset.mix}: what it keeps, every bad field named, and old specs written as before. */
class DatasetMixSpecTest {

  private final ObjectMapper json = SpecJson.mapper();

  private JobSpec read(String dataset) {
    return json.readValue(
        "{\"type\":\"finetune\",\"student\":\"builtin:gemma2-tiny\",\"dataset\":" + dataset + "}",
        JobSpec.class);
  }

  private List<SpecViolation> refused(String dataset) {
    Throwable e = catchThrowable(() -> read(dataset));
    while (e != null && !(e instanceof InvalidSpecException)) {
      e = e.getCause();
    }
    assertThat(e).as(dataset).isInstanceOf(InvalidSpecException.class);
    return ((InvalidSpecException) e).violations();
  }

  @Test
  void aMixKeepsItsSourcesWithDefaults() {
    DatasetSpec d =
        read("{\"mix\": [{\"uri\": \"file:/data/raw.txt\", \"format\": \"TEXT\", \"weight\": 3,"
                + " \"name\": \"raw\"}, {\"uri\": \"builtin:procedural\", \"weight\": 1}]}")
            .dataset();
    assertThat(d.isMix()).isTrue();
    assertThat(d.uri()).isNull();
    assertThat(d.mix())
        .containsExactly(
            new MixSource("file:/data/raw.txt", "text", 3.0, "raw"),
            new MixSource("builtin:procedural", "alpaca", 1.0, null));
    assertThat(d.sourceName(0)).isEqualTo("raw");
    assertThat(d.sourceName(1)).isEqualTo("1");
    assertThat(FileRefs.references(read(json.writeValueAsString(d))))
        .containsEntry("dataset.mix[0].uri", "file:/data/raw.txt")
        .doesNotContainKey("dataset.uri");
  }

  @Test
  void everyBadFieldIsNamed() {
    assertThat(refused("{\"mix\": [{\"uri\": \"builtin:procedural\", \"weight\": 1}]}"))
        .containsExactly(new SpecViolation("dataset.mix", "needs at least 2 sources, had 1"));
    assertThat(
            refused(
                "{\"uri\": \"builtin:procedural\", \"mix\": ["
                    + "{\"uri\": \"file:/a.txt\", \"format\": \"text\", \"weight\": 0},"
                    + "{\"uri\": \"file:b.jsonl\", \"format\": \"csv\", \"weight\": -2},"
                    + "{\"weight\": 1, \"name\": \"Bad-Name\"},"
                    + "{\"uri\": \"file:/c.txt\", \"name\": \"x\"},"
                    + "{\"uri\": \"file:/d.txt\", \"weight\": 1, \"name\": \"x\"}]}"))
        .containsExactly(
            new SpecViolation(
                "dataset.uri", "must be absent when mix is set (each source has its own uri)"),
            new SpecViolation("dataset.mix[0].weight", "must be above 0 and finite, was 0.0"),
            new SpecViolation("dataset.mix[1].uri", "file: path must be absolute, was 'b.jsonl'"),
            new SpecViolation("dataset.mix[1].format", Catalog.oneOf(Catalog.FORMATS, "csv")),
            new SpecViolation("dataset.mix[1].weight", "must be above 0 and finite, was -2.0"),
            new SpecViolation("dataset.mix[2].uri", "is required"),
            new SpecViolation("dataset.mix[2].name", "must match [a-z0-9_]{1,40}, was 'Bad-Name'"),
            new SpecViolation("dataset.mix[3].weight", "is required"),
            new SpecViolation("dataset.mix[4].name", "'x' names two sources"));
  }

  @Test
  void aDatasetWithoutMixSerialisesAsBefore() {
    assertThat(json.writeValueAsString(DatasetSpec.procedural())).doesNotContain("mix");
  }
}
