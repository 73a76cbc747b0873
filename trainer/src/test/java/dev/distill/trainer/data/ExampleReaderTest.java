package dev.distill.trainer.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ExampleReaderTest {

  @Test
  void streamsAllAlpacaRecordsOfTheSharedFile() {
    Path file = SharedDatasets.file("alpaca-style-instructions-1100.json");
    AtomicLong withInput = new AtomicLong();
    AtomicLong seen = new AtomicLong();
    Example[] first = new Example[1];
    long n =
        ExampleReader.read(
            file,
            "alpaca",
            e -> {
              if (seen.getAndIncrement() == 0) {
                first[0] = e;
              }
              if (!((Example.Chat) e).input().isEmpty()) {
                withInput.incrementAndGet();
              }
            });
    assertThat(n).isEqualTo(1100);
    assertThat(seen.get()).isEqualTo(1100);
    assertThat(withInput.get()).isBetween(1L, 1099L);
    Example.Chat c = (Example.Chat) first[0];
    assertThat(c.messages().get(0).content())
        .isEqualTo("Evaluate the following phrase by transforming it into the spelling given.");
    assertThat(c.input()).isEqualTo("freind --> friend");
    assertThat(c.messages().get(1).role()).isEqualTo("assistant");
  }

  @Test
  void alpacaJsonLinesAndChatAndText(@TempDir Path dir) throws Exception {
    Path jsonl = dir.resolve("a.jsonl");
    Files.writeString(
        jsonl,
        "{\"instruction\": \"Say hi\", \"output\": \"Hi\"}\n\n{\"instruction\": \"Add\", \"input\": \"1 2\", \"output\": \"3\"}\n");
    List<Example> a = ExampleReader.readAll(jsonl, "alpaca");
    assertThat(a)
        .containsExactly(
            Example.Chat.alpaca("Say hi", "", "Hi"), Example.Chat.alpaca("Add", "1 2", "3"));

    Path chat = dir.resolve("c.jsonl");
    Files.writeString(
        chat,
        "{\"messages\": [{\"role\": \"system\", \"content\": \"S\"}, {\"role\": \"user\", \"content\": \"Q\"},"
            + " {\"role\": \"assistant\", \"content\": \"A\"}]}\n");
    List<Example> c = ExampleReader.readAll(chat, "chat");
    assertThat(((Example.Chat) c.get(0)).messages())
        .containsExactly(Message.system("S"), Message.user("Q"), Message.assistant("A"));

    Path text = dir.resolve("t.txt");
    Files.writeString(text, "first doc\nline two\n\n\n  \nsecond doc\n");
    assertThat(ExampleReader.readAll(text, "text"))
        .containsExactly(new Example.Text("first doc\nline two"), new Example.Text("second doc"));
  }

  @Test
  void recordsArriveBeforeTheRestOfTheFileIsRead(@TempDir Path dir) throws Exception {
    // a reader that parsed the whole array first would fail before delivering anything
    Path file = dir.resolve("tail-broken.json");
    Files.writeString(file, "[{\"instruction\": \"a\", \"output\": \"b\"},\n{\"instruction\": ");
    AtomicLong delivered = new AtomicLong();
    assertThatThrownBy(() -> ExampleReader.read(file, "alpaca", e -> delivered.incrementAndGet()))
        .hasMessageStartingWith(file + ":2: record 2:");
    assertThat(delivered.get()).isEqualTo(1);
  }

  @Test
  void malformedLinesNameFileLineAndRecord(@TempDir Path dir) throws Exception {
    Path jsonl = dir.resolve("bad.jsonl");
    Files.writeString(
        jsonl,
        "{\"instruction\": \"a\", \"output\": \"b\"}\n\n{\"instruction\": \"a\", \"output\": \n");
    assertThatThrownBy(() -> ExampleReader.readAll(jsonl, "alpaca"))
        .isInstanceOf(DataFormatException.class)
        .hasMessageStartingWith(jsonl + ":3: record 2: malformed JSON");

    Path missing = dir.resolve("missing.jsonl");
    Files.writeString(missing, "{\"instruction\": \"a\"}\n");
    assertThatThrownBy(() -> ExampleReader.readAll(missing, "alpaca"))
        .hasMessage(missing + ":1: record 1: field 'output' is missing");

    Path role = dir.resolve("role.jsonl");
    Files.writeString(
        role,
        "{\"messages\": [{\"role\": \"user\", \"content\": \"q\"}]}\n{\"messages\": [{\"role\": \"bot\", \"content\": \"x\"}]}\n");
    assertThatThrownBy(() -> ExampleReader.readAll(role, "chat"))
        .hasMessageStartingWith(role + ":2: record 2: messages[0]: role must be one of");

    Path array = dir.resolve("bad.json");
    Files.writeString(
        array,
        "[\n  {\"instruction\": \"a\", \"output\": \"b\"},\n  {\"instruction\": 5, \"output\": \"b\"}\n]\n");
    assertThatThrownBy(() -> ExampleReader.readAll(array, "alpaca"))
        .hasMessage(array + ":3: record 2: field 'instruction' must be a string");

    Path broken = dir.resolve("broken.json");
    Files.writeString(
        broken,
        "[\n  {\"instruction\": \"a\", \"output\": \"b\"},\n  {\"instruction\" \"a\"}\n]\n");
    assertThatThrownBy(() -> ExampleReader.readAll(broken, "alpaca"))
        .hasMessageStartingWith(broken + ":3: record 2: malformed JSON");

    assertThatThrownBy(() -> ExampleReader.readAll(dir.resolve("nope.json"), "alpaca"))
        .hasMessageContaining("nope.json");
  }

  @Test
  void instructionsMayLackAnOutputButTrainingDataMayNot(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("instructions.json");
    Files.writeString(
        file,
        "[{\"instruction\": \"Name a fruit.\", \"input\": \"red\"},"
            + " {\"instruction\": \"Hi\", \"output\": \"Hello\"}]");
    List<Example> prompts = new java.util.ArrayList<>();
    assertThat(ExampleReader.readPrompts(file, "alpaca", (e, node) -> prompts.add(e))).isEqualTo(2);
    Example.Chat first = (Example.Chat) prompts.get(0);
    assertThat(first.messages()).containsExactly(Message.user("Name a fruit."));
    assertThat(first.input()).isEqualTo("red");
    assertThat(((Example.Chat) prompts.get(1)).messages())
        .containsExactly(Message.user("Hi"), Message.assistant("Hello"));
    assertThatThrownBy(() -> ExampleReader.read(file, "alpaca", e -> {}))
        .hasMessageContaining("record 1")
        .hasMessageContaining("'output' is missing");
    assertThatThrownBy(() -> ExampleReader.readPrompts(file, "text", (e, node) -> {}))
        .hasMessageContaining("alpaca or chat");
  }

  @Test
  void instructionsArePulledOneRecordAtATimeBeforeTheRestOfTheFileIsRead(@TempDir Path dir)
      throws Exception {
    // a JSON array whose end is damaged: a reader that parsed the file whole would fail before
    // handing out any record; the cursor hands out the first two, then names the damaged record
    Path file = dir.resolve("a.json");
    Files.writeString(
        file,
        "[{\"instruction\": \"One\"},\n{\"instruction\": \"Two\", \"output\": \"2\"},\n"
            + "{\"instruction\": ");
    try (ExampleReader.Cursor c = ExampleReader.openPrompts(file, "alpaca")) {
      ExampleReader.Cursor.Item one = c.next();
      assertThat(one.number()).isEqualTo(1);
      assertThat(((Example.Chat) one.example()).messages()).hasSize(1); // no output: the user turn
      assertThat(c.next().record().get("output").asString()).isEqualTo("2");
      assertThatThrownBy(c::next)
          .isInstanceOf(DataFormatException.class)
          .hasMessageContaining("record 3");
    }
    Path lines = dir.resolve("c.jsonl");
    Files.writeString(
        lines, "{\"messages\": [{\"role\": \"user\", \"content\": \"Q\"}]}\n{not json\n");
    try (ExampleReader.Cursor c = ExampleReader.openPrompts(lines, "chat")) {
      assertThat(c.next().number()).isEqualTo(1);
      assertThatThrownBy(c::next).hasMessageContaining(":2: record 2");
    }
  }

  @Test
  void augmentedRowsAreOneDocumentEachAndMustEndWithTheirPairs(@TempDir Path dir) throws Exception {
    Path ok = dir.resolve("aug.jsonl");
    Files.writeString(
        ok,
        "{\"text\": \"The jury sat.\\n\\nQuestion: Who sat?\\nAnswer: The jury.\", \"pairs\":"
            + " [{\"question\": \"Who sat?\", \"answer\": \"The jury.\"}],"
            + " \"source\": {\"chunk\": 0}}\n");
    assertThat(ExampleReader.readAll(ok, "augmented"))
        .containsExactly(
            new Example.Text("The jury sat.\n\nQuestion: Who sat?\nAnswer: The jury."));
    Path bad = dir.resolve("bad.jsonl");
    Files.writeString(
        bad,
        "{\"text\": \"x\\n\\nQuestion: A?\\nAnswer: B\", \"pairs\": [{\"question\": \"A?\","
            + " \"answer\": \"B\"}]}\n"
            + "{\"text\": \"The jury sat.\", \"pairs\": [{\"question\": \"Who?\", \"answer\":"
            + " \"The jury.\"}]}\n");
    assertThatThrownBy(() -> ExampleReader.readAll(bad, "augmented"))
        .isInstanceOf(DataFormatException.class)
        .hasMessageContaining(":2: record 2")
        .hasMessageContaining("followed by its pairs");
    Path noPairs = dir.resolve("plain.jsonl");
    Files.writeString(noPairs, "{\"text\": \"just text\"}\n");
    assertThatThrownBy(() -> ExampleReader.readAll(noPairs, "augmented"))
        .hasMessageContaining("'pairs' must be a non-empty array");
  }
}
