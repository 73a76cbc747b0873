package dev.distill.trainer.tokenize;

import java.util.List;
import java.util.OptionalInt;

/**
 * Text to token ids and back. Special-token strings that occur in the text (such as {@code
 * <start_of_turn>} or {@code <bos>}) are encoded as their single special id, as Hugging Face
 * tokenizers do with added tokens; nothing is added around the text unless asked.
 */
public interface Tokenizer extends AutoCloseable {

  /** Encodes without adding BOS/EOS. */
  int[] encode(String text);

  /**
   * Encodes, with the tokenizer's own special tokens (for instance BOS) when {@code addSpecial}.
   */
  default int[] encode(String text, boolean addSpecial) {
    int[] ids = encode(text);
    if (!addSpecial || bosId() < 0) {
      return ids;
    }
    int[] out = new int[ids.length + 1];
    out[0] = bosId();
    System.arraycopy(ids, 0, out, 1, ids.length);
    return out;
  }

  /**
   * Encodes consecutive pieces of one text (a prompt, then a response, ...) so that the tokens of
   * all pieces, concatenated, are the tokens of the whole text: each piece gets the tokens whose
   * last character lies in it. This default encodes each piece on its own, which is exact for
   * tokenizers whose tokens never depend on the text around a piece (the byte-level one); a
   * tokenizer that prepends a word-boundary marker at the start of a text (SentencePiece's "▁") or
   * merges across the boundary must override it.
   *
   * @return one array of ids per piece, in order
   */
  default int[][] encodePieces(List<String> pieces) {
    int[][] out = new int[pieces.size()][];
    for (int i = 0; i < out.length; i++) {
      out[i] = encode(pieces.get(i));
    }
    return out;
  }

  /** Decodes, writing special tokens as their strings; invalid UTF-8 becomes U+FFFD. */
  String decode(int[] ids);

  /** Decodes, leaving out special tokens when {@code skipSpecial}. */
  String decode(int[] ids, boolean skipSpecial);

  /** The number of ids: every id is in {@code [0, vocabSize())}. */
  int vocabSize();

  /** Id of the beginning-of-sequence token, or -1 when the tokenizer has none. */
  int bosId();

  /** Id of the end-of-sequence token, or -1 when the tokenizer has none. */
  int eosId();

  /** Id used for padding (the EOS id when the tokenizer has no pad token); never -1. */
  int padId();

  /** The string of the BOS token (as chat templates write {@code bos_token}), or "" without one. */
  String bosToken();

  /** The string of the EOS token, or "" without one. */
  String eosToken();

  /**
   * The string of the token {@link #padId()} names (the EOS token's when the tokenizer has no pad
   * token of its own), or "" when that id has no token string.
   */
  String padToken();

  /**
   * The id of a special or added token such as {@code <start_of_turn>}, if the vocabulary has it.
   */
  OptionalInt specialId(String token);

  /** Releases native resources, if any. */
  @Override
  default void close() {}
}
