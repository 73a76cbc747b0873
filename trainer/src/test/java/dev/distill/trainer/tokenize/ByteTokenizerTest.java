package dev.distill.trainer.tokenize;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ByteTokenizerTest {

  private final ByteTokenizer tok = ByteTokenizer.instance();

  @Test
  void idsAreSpecialsThenBytes() {
    assertThat(tok.vocabSize()).isEqualTo(ByteTokenizer.SPECIALS.size() + 256);
    assertThat(tok.padId()).isEqualTo(0);
    assertThat(tok.bosId()).isEqualTo(1);
    assertThat(tok.eosId()).isEqualTo(2);
    assertThat(tok.specialId("<start_of_turn>")).hasValue(4);
    assertThat(tok.specialId("<|eot_id|>")).hasValue(11);
    assertThat(tok.specialId("<nope>")).isEmpty();
    int s = ByteTokenizer.SPECIALS.size();
    assertThat(tok.encode("Ab")).containsExactly(s + 'A', s + 'b');
    // é is two UTF-8 bytes
    assertThat(tok.encode("é")).containsExactly(s + 0xC3, s + 0xA9);
  }

  @Test
  void markersInTextAreSingleTokens() {
    int[] ids = tok.encode("<start_of_turn>user\nhi<end_of_turn>\n<startx");
    int s = ByteTokenizer.SPECIALS.size();
    assertThat(ids[0]).isEqualTo(4);
    assertThat(ids).hasSize(1 + 4 + 1 + 2 + 1 + 1 + 7);
    assertThat(ids[8]).isEqualTo(5);
    assertThat(ids[10]).isEqualTo(s + '<');
    assertThat(tok.encode("hi", true)).containsExactly(1, s + 'h', s + 'i');
  }

  @Test
  void roundTripsAndSkipsSpecials() {
    String text = "<bos>Grüße, 世界! 🙂<|im_end|>\n";
    assertThat(tok.decode(tok.encode(text))).isEqualTo(text);
    assertThat(tok.decode(tok.encode(text), true)).isEqualTo("Grüße, 世界! 🙂\n");
  }

  @Test
  void decodeToleratesInvalidUtf8() {
    int s = ByteTokenizer.SPECIALS.size();
    // a lone continuation byte and a truncated 3-byte sequence
    String out = tok.decode(new int[] {s + 'a', s + 0x80, s + 'b', s + 0xE4, s + 0xB8});
    assertThat(out).startsWith("a\uFFFDb").endsWith("\uFFFD");
    assertThatThrownBy(() -> tok.decode(new int[] {tok.vocabSize()}))
        .hasMessageContaining(String.valueOf(tok.vocabSize()));
  }

  @Test
  void writtenTokenizerJsonLoadsInDjlWithTheSameIds(@TempDir Path dir) {
    tok.writeTo(dir);
    List<String> texts =
        List.of(
            "hello world",
            "  leading spaces and\ttabs\n\n",
            "<start_of_turn>user\nWhat is 2+3?<end_of_turn>\n<start_of_turn>model\n5<end_of_turn>",
            "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nä ö ü 世界 🙂<|eot_id|>",
            "<|user|>\nx<|end|>\n<|assistant|>\n<|im_start|>a<|im_end|><pad><eos><unk><|system|>");
    try (HfTokenizer hf = HfTokenizer.load(dir.resolve("tokenizer.json"))) {
      assertThat(hf.vocabSize()).isEqualTo(tok.vocabSize());
      assertThat(hf.bosId()).isEqualTo(tok.bosId());
      assertThat(hf.eosId()).isEqualTo(tok.eosId());
      assertThat(hf.padId()).isEqualTo(tok.padId());
      for (String special : ByteTokenizer.SPECIALS) {
        assertThat(hf.specialId(special)).isEqualTo(tok.specialId(special));
      }
      for (String t : texts) {
        assertThat(hf.encode(t)).as(t).containsExactly(tok.encode(t));
        assertThat(hf.decode(tok.encode(t))).as(t).isEqualTo(t);
      }
    }
    // the factory recognises the directory as the byte tokenizer
    assertThat(Tokenizers.load(dir.toString())).isSameAs(tok);
    assertThat(Tokenizers.load("byte")).isSameAs(tok);
  }
}
