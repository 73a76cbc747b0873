package dev.distill.trainer.data;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.PushbackInputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.BiConsumer;
import java.util.function.Consumer;
import tools.jackson.core.JacksonException;
import tools.jackson.core.JsonParser;
import tools.jackson.core.JsonToken;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * Streams the examples of a data file, one record at a time (a file is never loaded whole):
 *
 * <ul>
 *   <li>{@code alpaca}: a JSON array of {@code {"instruction", "input", "output"}} objects, or the
 *       same objects one per line (JSONL); {@code input} is optional.
 *   <li>{@code chat}: JSONL of {@code {"messages": [{"role": "system"|"user"|"assistant",
 *       "content"}]}}.
 *   <li>{@code text}: plain UTF-8 text; documents are separated by blank lines. A corpus without
 *       blank lines is one document, which {@link SequenceBuilder} cuts into sequences.
 *   <li>{@code augmented}: instruction-augmented text (Cheng et al. 2024), as {@code synthesize}'s
 *       {@code generation.mode corpus} writes it: JSONL of {@code {"text", "pairs": [{"question",
 *       "answer"}], "source"}} whose {@code text} is the chunk followed by its pairs, each as
 *       {@code "\n\nQuestion: q\nAnswer: a"}. A row is one document trained on every token, as in
 *       the paper; a row whose text does not end with its pairs so rendered is refused.
 * </ul>
 *
 * Errors name the file, the line and the record number (1-based).
 */
public final class ExampleReader {

  private static final JsonMapper JSON = JsonMapper.builder().build();

  private ExampleReader() {}

  /**
   * Reads {@code file} in {@code format} and hands each example to {@code sink}, in file order.
   *
   * @return the number of examples read
   */
  public static long read(Path file, String format, Consumer<Example> sink) {
    return readRecords(file, format, (example, record) -> sink.accept(example));
  }

  /**
   * Reads {@code file} like {@link #read}, handing each example with its JSON record (null for
   * {@code text}), so that fields beside the format's (such as {@code "model 1 response"}) can be
   * read.
   */
  public static long readRecords(Path file, String format, BiConsumer<Example, JsonNode> sink) {
    if (!Files.isRegularFile(file)) {
      throw new IllegalArgumentException("data file not found: " + file);
    }
    try {
      return switch (format.toLowerCase(Locale.ROOT)) {
        case "alpaca" -> readAlpaca(file, sink, ExampleReader::alpacaRecord);
        case "chat" -> readJsonLines(file, sink, ExampleReader::chatRecord);
        case "text" -> readText(file, sink);
        case "augmented" -> readJsonLines(file, sink, ExampleReader::augmentedRecord);
        default ->
            throw new IllegalArgumentException(
                "format must be one of alpaca, chat, text, augmented, was '" + format + "'");
      };
    } catch (IOException e) {
      throw new DataFormatException(file, "cannot read: " + e.getMessage(), e);
    }
  }

  /**
   * Reads the instructions of {@code file} ({@code alpaca} or {@code chat}) for a teacher to
   * answer: like {@link #readRecords}, but an Alpaca record's {@code output} may be absent (the
   * example is then the user turn alone) and a chat record may end with a user turn.
   */
  public static long readPrompts(Path file, String format, BiConsumer<Example, JsonNode> sink) {
    long n = 0;
    try (Cursor c = openPrompts(file, format)) {
      for (Cursor.Item item = c.next(); item != null; item = c.next()) {
        sink.accept(item.example(), item.record());
        n++;
      }
    }
    return n;
  }

  /**
   * The instructions of {@code file} as {@link #readPrompts} reads them, pulled one record at a
   * time: the cursor holds one record (a JSONL line, or one object of a JSON array), never the
   * file.
   */
  public static Cursor openPrompts(Path file, String format) {
    if (!Files.isRegularFile(file)) {
      throw new IllegalArgumentException("data file not found: " + file);
    }
    String f = format.toLowerCase(Locale.ROOT);
    if (!f.equals("alpaca") && !f.equals("chat")) {
      throw new IllegalArgumentException(
          "instructions must be in format alpaca or chat, was '" + format + "'");
    }
    RecordParser parser =
        f.equals("alpaca") ? ExampleReader::alpacaPrompt : ExampleReader::chatRecord;
    try {
      if (f.equals("alpaca")) {
        PushbackInputStream in = new PushbackInputStream(Files.newInputStream(file), 4);
        if (firstSignificant(in) == '[') {
          return new ArrayCursor(file, in, parser);
        }
        in.close();
      }
      return new LinesCursor(file, parser);
    } catch (IOException e) {
      throw new DataFormatException(file, "cannot read: " + e.getMessage(), e);
    }
  }

  /** Records pulled one at a time from a data file; {@link #next} is null after the last. */
  public interface Cursor extends AutoCloseable {

    /** One record: its number (1-based), the example, the JSON record as read. */
    record Item(long number, Example example, JsonNode record) {}

    /**
     * The next record, or null at the end of the file.
     *
     * @throws DataFormatException naming the file, line and record when one cannot be read
     */
    Item next();

    @Override
    void close();
  }

  private static final class LinesCursor implements Cursor {
    private final Path file;
    private final BufferedReader reader;
    private final RecordParser parser;
    private long record;
    private long lineNo;

    LinesCursor(Path file, RecordParser parser) throws IOException {
      this.file = file;
      this.parser = parser;
      this.reader = Files.newBufferedReader(file, StandardCharsets.UTF_8);
    }

    @Override
    public Item next() {
      try {
        String line;
        while ((line = reader.readLine()) != null) {
          lineNo++;
          if (line.isBlank()) {
            continue;
          }
          record++;
          JsonNode node;
          try {
            node = JSON.readTree(line);
          } catch (JacksonException e) {
            throw new DataFormatException(
                file, lineNo, record, "malformed JSON: " + e.getOriginalMessage());
          }
          if (!node.isObject()) {
            throw new DataFormatException(file, lineNo, record, "expected a JSON object");
          }
          return new Item(record, checked(file, lineNo, record, () -> parser.parse(node)), node);
        }
        return null;
      } catch (IOException e) {
        throw new DataFormatException(file, "cannot read: " + e.getMessage(), e);
      }
    }

    @Override
    public void close() {
      try {
        reader.close();
      } catch (IOException e) {
        throw new DataFormatException(file, "cannot close: " + e.getMessage(), e);
      }
    }
  }

  private static final class ArrayCursor implements Cursor {
    private final Path file;
    private final JsonParser p;
    private final RecordParser parser;
    private long record;
    private boolean done;

    ArrayCursor(Path file, InputStream in, RecordParser parser) {
      this.file = file;
      this.parser = parser;
      try {
        this.p = JSON.createParser(in);
        p.nextToken(); // START_ARRAY
      } catch (JacksonException e) {
        throw new DataFormatException(file, 1, 1, "malformed JSON: " + e.getOriginalMessage());
      }
    }

    @Override
    public Item next() {
      if (done) {
        return null;
      }
      long line = p.currentLocation().getLineNr();
      long current = record + 1; // the record being read, for error messages
      try {
        JsonToken t = p.nextToken();
        line = p.currentLocation().getLineNr();
        if (t == JsonToken.END_ARRAY) {
          done = true;
          return null;
        }
        if (t == null) {
          throw new DataFormatException(file, line, record + 1, "the JSON array is not closed");
        }
        record++;
        if (t != JsonToken.START_OBJECT) {
          throw new DataFormatException(file, line, record, "expected a JSON object, found " + t);
        }
        JsonNode node = p.readValueAsTree();
        long at = line;
        return new Item(record, checked(file, at, record, () -> parser.parse(node)), node);
      } catch (JacksonException e) {
        long errLine = e.getLocation() != null ? e.getLocation().getLineNr() : line;
        throw new DataFormatException(
            file, errLine, current, "malformed JSON: " + e.getOriginalMessage());
      }
    }

    @Override
    public void close() {
      p.close();
    }
  }

  /** Reads a whole (small) file into a list. */
  public static List<Example> readAll(Path file, String format) {
    List<Example> out = new ArrayList<>();
    read(file, format, out::add);
    return out;
  }

  /**
   * Skips whitespace and a UTF-8 byte-order mark, pushes the first other byte back and returns it
   * (-1 at the end): {@code '['} says a JSON array, anything else JSON lines.
   */
  private static int firstSignificant(PushbackInputStream in) throws IOException {
    int c;
    do {
      c = in.read();
    } while (c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == 0xEF || c == 0xBB
        || c == 0xBF);
    if (c >= 0) {
      in.unread(c);
    }
    return c;
  }

  private static long readAlpaca(Path file, BiConsumer<Example, JsonNode> sink, RecordParser parser)
      throws IOException {
    try (PushbackInputStream in = new PushbackInputStream(Files.newInputStream(file), 4)) {
      if (firstSignificant(in) == '[') {
        return readJsonArray(file, in, sink, parser);
      }
    }
    return readJsonLines(file, sink, parser);
  }

  private static long readJsonArray(
      Path file, InputStream in, BiConsumer<Example, JsonNode> sink, RecordParser parser) {
    try (ArrayCursor array = new ArrayCursor(file, in, parser)) {
      return drain(array, sink);
    }
  }

  /** Hands every remaining item of a cursor to the sink; the number of the last (0 for none). */
  private static long drain(Cursor cursor, BiConsumer<Example, JsonNode> sink) {
    long records = 0;
    for (Cursor.Item item = cursor.next(); item != null; item = cursor.next()) {
      sink.accept(item.example(), item.record());
      records = item.number();
    }
    return records;
  }

  private interface RecordParser {
    Example parse(JsonNode node);
  }

  private static long readJsonLines(
      Path file, BiConsumer<Example, JsonNode> sink, RecordParser parser) throws IOException {
    try (LinesCursor lines = new LinesCursor(file, parser)) {
      return drain(lines, sink);
    }
  }

  private static Example checked(
      Path file, long line, long record, java.util.function.Supplier<Example> parse) {
    try {
      return parse.get();
    } catch (DataFormatException e) {
      throw e;
    } catch (IllegalArgumentException e) {
      throw new DataFormatException(file, line, record, e.getMessage());
    }
  }

  private static Example alpacaRecord(JsonNode node) {
    return Example.Chat.alpaca(
        requiredString(node, "instruction"),
        optionalString(node, "input"),
        requiredString(node, "output"));
  }

  private static Example alpacaPrompt(JsonNode node) {
    String instruction = requiredString(node, "instruction");
    String input = optionalString(node, "input");
    JsonNode output = node.get("output");
    return output == null || output.isNull()
        ? new Example.Chat(List.of(Message.user(instruction)), input)
        : Example.Chat.alpaca(instruction, input, requiredString(node, "output"));
  }

  private static Example chatRecord(JsonNode node) {
    JsonNode messages = node.get("messages");
    if (messages == null || !messages.isArray() || messages.isEmpty()) {
      throw new IllegalArgumentException("'messages' must be a non-empty array");
    }
    List<Message> out = new ArrayList<>();
    int i = 0;
    for (JsonNode m : messages) {
      if (!m.isObject()) {
        throw new IllegalArgumentException("messages[" + i + "] is not an object");
      }
      try {
        out.add(new Message(requiredString(m, "role"), requiredString(m, "content")));
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException("messages[" + i + "]: " + e.getMessage());
      }
      i++;
    }
    return new Example.Chat(out, "");
  }

  /** The text of an {@code augmented} row, checked to end with its pairs as documented. */
  private static Example augmentedRecord(JsonNode node) {
    String text = requiredString(node, "text");
    JsonNode pairs = node.get("pairs");
    if (pairs == null || !pairs.isArray() || pairs.isEmpty()) {
      throw new IllegalArgumentException("'pairs' must be a non-empty array");
    }
    StringBuilder tail = new StringBuilder();
    int i = 0;
    for (JsonNode p : pairs) {
      if (!p.isObject()) {
        throw new IllegalArgumentException("pairs[" + i + "] is not an object");
      }
      try {
        tail.append("\n\nQuestion: ")
            .append(requiredString(p, "question"))
            .append("\nAnswer: ")
            .append(requiredString(p, "answer"));
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException("pairs[" + i + "]: " + e.getMessage());
      }
      i++;
    }
    if (!text.endsWith(tail.toString()) || text.length() == tail.length()) {
      throw new IllegalArgumentException(
          "'text' must be the chunk followed by its pairs, each as \"\\n\\nQuestion: ...\\n"
              + "Answer: ...\"");
    }
    return new Example.Text(text);
  }

  private static String requiredString(JsonNode node, String field) {
    JsonNode v = node.get(field);
    if (v == null || v.isNull()) {
      throw new IllegalArgumentException("field '" + field + "' is missing");
    }
    if (!v.isString()) {
      throw new IllegalArgumentException("field '" + field + "' must be a string");
    }
    return v.asString();
  }

  private static String optionalString(JsonNode node, String field) {
    JsonNode v = node.get(field);
    return v == null || v.isNull() ? "" : requiredString(node, field);
  }

  private static long readText(Path file, BiConsumer<Example, JsonNode> sink) throws IOException {
    if (file.getFileName().toString().endsWith(".jsonl")) {
      // JSONL of {"text": ...}: one document a record, such as synthesize's instruction-augmented
      // corpus (generation.mode corpus)
      return readJsonLines(file, sink, node -> new Example.Text(requiredString(node, "text")));
    }
    long docs = 0;
    try (BufferedReader r = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
      StringBuilder doc = new StringBuilder();
      String line;
      while (true) {
        line = r.readLine();
        if (line == null || line.isBlank()) {
          if (!doc.isEmpty()) {
            sink.accept(new Example.Text(doc.toString()), null);
            docs++;
            doc.setLength(0);
          }
          if (line == null) {
            break;
          }
        } else {
          if (!doc.isEmpty()) {
            doc.append('\n');
          }
          doc.append(line);
        }
      }
    }
    return docs;
  }
}
