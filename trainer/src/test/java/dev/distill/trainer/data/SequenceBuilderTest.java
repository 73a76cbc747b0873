package dev.distill.trainer.data;

import static org.assertj.core.api.Assertions.assertThat;

import dev.distill.trainer.tokenize.ByteTokenizer;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class SequenceBuilderTest {

  private final ByteTokenizer tok = ByteTokenizer.instance();

  /** The decoded text of the target tokens, runs separated by '|'. */
  private String targets(Sequence s) {
    StringBuilder sb = new StringBuilder();
    List<Integer> run = new ArrayList<>();
    for (int i = 0; i <= s.length(); i++) {
      if (i < s.length() && s.target()[i]) {
        run.add(s.ids()[i]);
      } else if (!run.isEmpty()) {
        sb.append(tok.decode(run.stream().mapToInt(Integer::intValue).toArray())).append('|');
        run.clear();
      }
    }
    return sb.toString();
  }

  @Test
  void maskCoversExactlyTheResponseTokens() {
    SequenceBuilder b = new SequenceBuilder(tok, PromptTemplate.GEMMA, 512, true, false);
    Sequence s = b.encode(PromptTemplateTest.CONVERSATION);
    assertThat(tok.decode(s.ids()))
        .isEqualTo(
            "<bos><start_of_turn>user\nWhat is 2+3?<end_of_turn>\n<start_of_turn>model\n5<end_of_turn>\n"
                + "<start_of_turn>user\nAnd 4*4?<end_of_turn>\n<start_of_turn>model\n16<end_of_turn>\n");
    assertThat(targets(s)).isEqualTo("5<end_of_turn>|16<end_of_turn>|");
    assertThat(s.lossTokens()).isEqualTo(2 + 3);
  }

  @Test
  void unmaskedPromptTrainsEveryTokenButTheFirst() {
    SequenceBuilder b = new SequenceBuilder(tok, PromptTemplate.CHATML, 512, false, false);
    Sequence s = b.encode(Example.Chat.of("Hi", "Yo"));
    assertThat(s.target()[0]).isFalse();
    for (int i = 1; i < s.length(); i++) {
      assertThat(s.target()[i]).isTrue();
    }
    assertThat(s.lossTokens()).isEqualTo(s.length() - 1);
  }

  @Test
  void truncationIsCountedAndPromptOnlyRowsAreDropped() {
    SequenceBuilder b = new SequenceBuilder(tok, PromptTemplate.GEMMA, 24, true, false);
    b.add(
        Example.Chat.of(
            "Hi", "ok")); // <bos><sot>user\nHi<eot>\n<sot>model\nok<eot>\n = 22 tokens: fits
    b.add(Example.Chat.of("Hi", "a long answer here")); // cut inside the answer
    b.add(Example.Chat.of("a prompt much longer than twenty-four bytes", "x")); // no answer left
    DataStats st = b.stats();
    assertThat(st.examples()).isEqualTo(3);
    assertThat(st.sequences()).isEqualTo(2);
    assertThat(st.truncated()).isEqualTo(2);
    assertThat(st.dropped()).isEqualTo(1);
    int fullLen = b.encode(Example.Chat.of("Hi", "a long answer here")).length();
    int promptLen =
        b.encode(Example.Chat.of("a prompt much longer than twenty-four bytes", "x")).length();
    assertThat(st.truncatedTokens()).isEqualTo((fullLen - 24) + (promptLen - 24));
    assertThat(b.rows().get(0).length()).isEqualTo(22);
    assertThat(b.rows().get(1).length()).isEqualTo(24);
    assertThat(st.summary()).contains("2 truncated").contains("1 dropped");
  }

  @Test
  void packingFillsRowsAndNumbersDocuments() {
    SequenceBuilder b = new SequenceBuilder(tok, PromptTemplate.GEMMA, 44, true, true);
    for (String a : List.of("1", "2", "3")) {
      b.add(Example.Chat.of("Hi", a)); // 21 tokens each: two per row of 44
    }
    List<Sequence> rows = b.rows();
    assertThat(rows).hasSize(2);
    assertThat(rows.get(0).length()).isEqualTo(42);
    assertThat(rows.get(1).length()).isEqualTo(21);
    assertThat(rows.get(0).doc()[20]).isEqualTo(1);
    assertThat(rows.get(0).doc()[21]).isEqualTo(2);
    assertThat(rows.get(0).ids()[21]).isEqualTo(tok.bosId());
    assertThat(targets(rows.get(0))).isEqualTo("1<end_of_turn>|2<end_of_turn>|");
    // the BOS of document 2 is not a target of document 1
    assertThat(rows.get(0).lossTokens()).isEqualTo(4);
    assertThat(b.stats().sequences()).isEqualTo(2);
  }

  @Test
  void longTextDocumentsAreChunkedWithOneTokenOverlap() {
    SequenceBuilder b = new SequenceBuilder(tok, PromptTemplate.GEMMA, 8, true, false);
    b.add(new Example.Text("abcdefghijklm")); // <bos> + 13 + <eos> = 15 tokens
    List<Sequence> rows = b.rows();
    // pieces [0,8) [7,15): every (input, next) pair once
    assertThat(rows).hasSize(2);
    assertThat(tok.decode(rows.get(0).ids())).isEqualTo("<bos>abcdefg");
    assertThat(tok.decode(rows.get(1).ids())).isEqualTo("ghijklm<eos>");
    assertThat(rows.get(0).lossTokens() + rows.get(1).lossTokens()).isEqualTo(14);
    assertThat(b.stats().truncated()).isZero();
    assertThat(b.stats().chunkedDocuments()).isEqualTo(1);
  }
}
