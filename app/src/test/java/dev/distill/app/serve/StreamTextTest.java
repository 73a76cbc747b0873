package dev.distill.app.serve;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;

/** A stream sends only text that can no longer change, and its deltas join to the final text. */
class StreamTextTest {

  @Test
  void withoutStopsEverythingIsSentAtOnce() {
    StreamText s = new StreamText(List.of());
    assertThat(s.next("he")).isEqualTo("he");
    assertThat(s.next("hello")).isEqualTo("llo");
    assertThat(s.finish("hello")).isEmpty();
  }

  @Test
  void theStartOfAStopStringIsHeldBackUntilItIsNotOne() {
    StreamText s = new StreamText(List.of("END"));
    assertThat(s.next("abE")).isEqualTo("ab");
    assertThat(s.next("abEN")).isEmpty();
    assertThat(s.next("abENx")).isEqualTo("ENx"); // not END after all
    assertThat(s.finish("abENx")).isEmpty();
  }

  @Test
  void aStopStringIsNeverSent() {
    StreamText s = new StreamText(List.of("\n\n", "STOP"));
    assertThat(s.next("one\n")).isEqualTo("one");
    assertThat(s.next("one\n\ntwo")).isEmpty();
    assertThat(s.finish("one")).isEmpty(); // the generator cut the text before the stop
  }

  @Test
  void aCharacterSplitAcrossTokensWaitsUntilComplete() {
    StreamText s = new StreamText(List.of());
    assertThat(s.next("caf\uFFFD")).isEqualTo("caf");
    assertThat(s.next("café")).isEqualTo("é");
    assertThat(s.next("café \uD83D")).isEqualTo(" "); // half a surrogate pair
    assertThat(s.finish("café \uD83D\uDE00")).isEqualTo("\uD83D\uDE00");
  }
}
