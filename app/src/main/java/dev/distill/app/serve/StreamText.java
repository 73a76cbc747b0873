package dev.distill.app.serve;

import java.util.List;

/**
 * The text a stream may send so far. While tokens arrive, the decoded text can still change at its
 * end: a stop string may be under way (the text is cut before it) and the bytes of a character may
 * be split across tokens (decoded as U+FFFD until complete). So each step sends only what can no
 * longer change; the end sends the rest of the final text. The deltas joined are the final text.
 */
final class StreamText {

  private final List<String> stops;
  private String sent = "";

  StreamText(List<String> stops) {
    this.stops = List.copyOf(stops);
  }

  /**
   * @param decoded the whole output decoded so far
   * @return the new text that is safe to send, possibly ""
   */
  String next(String decoded) {
    String safe = decoded.substring(0, safeLength(decoded));
    if (safe.length() <= sent.length() || !safe.startsWith(sent)) {
      return "";
    }
    String delta = safe.substring(sent.length());
    sent = safe;
    return delta;
  }

  /**
   * @param finalText the generation's text (cut before a stop string)
   * @return what is left to send
   */
  String finish(String finalText) {
    if (!finalText.startsWith(sent)) {
      // cannot happen while decoding is prefix-stable; never send text twice
      throw new IllegalStateException("streamed text '" + sent + "' is not a prefix of the output");
    }
    String delta = finalText.substring(sent.length());
    sent = finalText;
    return delta;
  }

  /** Up to the first stop string, less a held back tail: a stop's start or a partial character. */
  int safeLength(String text) {
    int end = text.length();
    for (String s : stops) {
      int at = text.indexOf(s);
      if (at >= 0) {
        end = Math.min(end, at);
      }
    }
    int keep = end;
    for (String s : stops) { // the longest tail of text[0, end) that starts a stop string
      for (int k = Math.min(s.length() - 1, end); k > 0; k--) {
        if (text.startsWith(s.substring(0, k), end - k)) {
          keep = Math.min(keep, end - k);
          break;
        }
      }
    }
    while (keep > 0 && text.charAt(keep - 1) == '\uFFFD') {
      keep--;
    }
    if (keep > 0 && Character.isHighSurrogate(text.charAt(keep - 1))) {
      keep--;
    }
    return keep;
  }
}
