package dev.distill.trainer.data;

import dev.distill.trainer.tokenize.Tokenizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Turns examples into rows of at most {@code maxSeqLen} tokens, counting what is cut.
 *
 * <ul>
 *   <li>Chat examples are rendered by the template and encoded as one text whose tokens are handed
 *       to the segments ({@link Tokenizer#encodePieces}: a token that spans a boundary belongs to
 *       the later segment, and a SentencePiece "▁" marker is not repeated at each segment). Targets
 *       are the response tokens, or all tokens but the first when {@code maskPrompt} is false. An
 *       example longer than {@code maxSeqLen} keeps its first {@code maxSeqLen} tokens and is
 *       counted as truncated; one left without any target is dropped and counted.
 *   <li>Text documents are {@code <bos> text <eos>}, all tokens targets; a long document is cut
 *       into rows of {@code maxSeqLen} that overlap by one token, so each (input, next token) pair
 *       is trained exactly once.
 *   <li>Packing (optional) fills rows greedily in order: an example that does not fit in the
 *       remaining space starts a new row (examples are never split across rows). Each example keeps
 *       its own document number: the token that starts a document is never a target of the previous
 *       one, and the batch's attention mask carries the document numbers so a model can keep
 *       attention within a document (a model that only tests mask &gt; 0 lets later documents see
 *       earlier ones, as in GPT-style packing).
 * </ul>
 */
public final class SequenceBuilder {

  private final Tokenizer tokenizer;
  private final PromptTemplate template;
  private final int maxSeqLen;
  private final boolean maskPrompt;
  private final boolean packing;

  private final List<Sequence> rows = new ArrayList<>();
  private long examples;
  private long truncated;
  private long truncatedTokens;
  private long dropped;
  private long chunked;

  // the row being packed
  private final int[] packIds;
  private final boolean[] packTarget;
  private final int[] packDoc;
  private int packLen;
  private int packDocs;

  public SequenceBuilder(
      Tokenizer tokenizer,
      PromptTemplate template,
      int maxSeqLen,
      boolean maskPrompt,
      boolean packing) {
    if (maxSeqLen < 2) {
      throw new IllegalArgumentException("max_seq_len must be at least 2, was " + maxSeqLen);
    }
    this.tokenizer = tokenizer;
    this.template = template;
    this.maxSeqLen = maxSeqLen;
    this.maskPrompt = maskPrompt;
    this.packing = packing;
    this.packIds = packing ? new int[maxSeqLen] : null;
    this.packTarget = packing ? new boolean[maxSeqLen] : null;
    this.packDoc = packing ? new int[maxSeqLen] : null;
  }

  /**
   * The tokens of an example, untruncated.
   *
   * @return ids and targets of equal length
   */
  public Sequence encode(Example example) {
    List<Segment> segments;
    if (example instanceof Example.Chat chat) {
      segments = template.render(chat, tokenizer.bosToken(), tokenizer.eosToken());
    } else {
      String text = ((Example.Text) example).text();
      segments = List.of(new Segment(tokenizer.bosToken() + text + tokenizer.eosToken(), true));
    }
    // (the tokens of the whole text, handed to the segments: no marker or merge differs from
    // encoding the rendered text at once)
    int[][] parts = tokenizer.encodePieces(segments.stream().map(Segment::text).toList());
    int total = 0;
    for (int[] part : parts) {
      total += part.length;
    }
    int[] ids = new int[total];
    boolean[] target = new boolean[total];
    int pos = 0;
    for (int i = 0; i < parts.length; i++) {
      System.arraycopy(parts[i], 0, ids, pos, parts[i].length);
      boolean trained =
          !maskPrompt || segments.get(i).response() || example instanceof Example.Text;
      Arrays.fill(target, pos, pos + parts[i].length, trained);
      pos += parts[i].length;
    }
    if (total > 0) {
      target[0] = false; // nothing predicts the first token
    }
    return Sequence.of(ids, target);
  }

  /** Adds an example. */
  public void add(Example example) {
    examples++;
    Sequence s = encode(example);
    if (example instanceof Example.Text && s.length() > maxSeqLen) {
      chunked++;
      int step = maxSeqLen - 1;
      for (int start = 0; start + 1 < s.length(); start += step) {
        int end = Math.min(start + maxSeqLen, s.length());
        boolean[] t = Arrays.copyOfRange(s.target(), start, end);
        t[0] = false;
        emit(Sequence.of(Arrays.copyOfRange(s.ids(), start, end), t));
        if (end == s.length()) {
          break;
        }
      }
      return;
    }
    if (s.length() > maxSeqLen) {
      truncated++;
      truncatedTokens += s.length() - maxSeqLen;
      s = Sequence.of(Arrays.copyOf(s.ids(), maxSeqLen), Arrays.copyOf(s.target(), maxSeqLen));
    }
    if (s.lossTokens() == 0) {
      dropped++;
      return;
    }
    emit(s);
  }

  private void emit(Sequence s) {
    if (!packing) {
      rows.add(s);
      return;
    }
    if (packLen + s.length() > maxSeqLen) {
      flushPack();
    }
    packDocs++;
    System.arraycopy(s.ids(), 0, packIds, packLen, s.length());
    System.arraycopy(s.target(), 0, packTarget, packLen, s.length());
    Arrays.fill(packDoc, packLen, packLen + s.length(), packDocs);
    packLen += s.length();
  }

  private void flushPack() {
    if (packLen > 0) {
      rows.add(
          new Sequence(
              Arrays.copyOf(packIds, packLen),
              Arrays.copyOf(packTarget, packLen),
              Arrays.copyOf(packDoc, packLen)));
      packLen = 0;
      packDocs = 0;
    }
  }

  /** The rows built so far (flushes a partly packed row). */
  public List<Sequence> rows() {
    if (packing) {
      flushPack();
    }
    return rows;
  }

  public DataStats stats() {
    long tokens = 0;
    long loss = 0;
    for (Sequence s : rows()) {
      tokens += s.length();
      loss += s.lossTokens();
    }
    return new DataStats(
        examples, rows.size(), truncated, truncatedTokens, dropped, chunked, tokens, loss);
  }
}
