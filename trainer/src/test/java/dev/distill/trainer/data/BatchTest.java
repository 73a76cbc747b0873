package dev.distill.trainer.data;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;

class BatchTest {

  @Test
  void rightPaddingLabelsAndMasks() {
    Sequence a = Sequence.of(new int[] {10, 11, 12, 13}, new boolean[] {false, false, true, true});
    Sequence b = Sequence.of(new int[] {20, 21}, new boolean[] {false, true});
    Batch batch = Batch.of(List.of(a, b), 0, 0);
    assertThat(batch.batchSize()).isEqualTo(2);
    assertThat(batch.seqLen()).isEqualTo(4);
    assertThat(batch.inputIds()).containsExactly(10, 11, 12, 13, 20, 21, 0, 0);
    assertThat(batch.labels()).containsExactly(11, 12, 13, 0, 21, 0, 0, 0);
    assertThat(batch.lossMask()).containsExactly(0f, 1f, 1f, 0f, 1f, 0f, 0f, 0f);
    assertThat(batch.attentionMask()).containsExactly(1, 1, 1, 1, 1, 1, 0, 0);
    assertThat(batch.tokens()).isEqualTo(3);
    assertThat(batch.realTokens()).isEqualTo(6);
  }

  @Test
  void fixedLengthPadsToSeqLen() {
    Sequence a = Sequence.of(new int[] {5, 6}, new boolean[] {false, true});
    Batch batch = Batch.of(List.of(a), 5, 3);
    assertThat(batch.inputIds()).containsExactly(5, 6, 3, 3, 3);
    assertThat(batch.labels()).containsExactly(6, 3, 3, 3, 3);
    assertThat(batch.attentionMask()).containsExactly(1, 1, 0, 0, 0);
  }

  @Test
  void packedDocumentsDoNotPredictAcrossTheBoundary() {
    Sequence packed =
        new Sequence(
            new int[] {1, 7, 8, 1, 9},
            new boolean[] {false, true, true, false, true},
            new int[] {1, 1, 1, 2, 2});
    Batch batch = Batch.of(List.of(packed), 0, 0);
    assertThat(batch.labels()).containsExactly(7, 8, 1, 9, 0);
    assertThat(batch.lossMask()).containsExactly(1f, 1f, 0f, 1f, 0f);
    assertThat(batch.attentionMask()).containsExactly(1, 1, 1, 2, 2);
    // a target token at a document start would still be masked: the label crosses documents
    Sequence crossing =
        new Sequence(new int[] {1, 7, 1}, new boolean[] {false, true, true}, new int[] {1, 1, 2});
    assertThat(Batch.of(List.of(crossing), 0, 0).lossMask()).containsExactly(1f, 0f, 0f);
  }
}
