package dev.distill.trainer.cache;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.distill.trainer.data.Batch;
import dev.distill.trainer.data.Sequence;
import dev.distill.trainer.loss.TinyLm;
import dev.distill.trainer.model.NoGrad;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The teacher pass's held-out approximation error against an independent recomputation from the
 * full logits: KL(P || P^), P^ the top-k probabilities with the tail spread evenly over the rest.
 */
class HeldOutErrorTest {

  private static final int V = 16;
  private static final int PAD = 0;

  @TempDir Path tmp;
  private NDManager manager;
  private TinyLm teacher;
  private List<Sequence> rows;

  @BeforeEach
  void open() {
    manager = NDManager.newBaseManager();
    teacher = new TinyLm(manager, V, 5, 2, false);
    Random r = new Random(11);
    rows = new ArrayList<>();
    for (int s = 0; s < 6; s++) {
      int n = 4 + r.nextInt(5);
      int[] ids = new int[n];
      boolean[] target = new boolean[n];
      for (int i = 0; i < n; i++) {
        ids[i] = 1 + r.nextInt(V - 1);
        target[i] = i >= 1;
      }
      rows.add(Sequence.of(ids, target));
    }
  }

  @AfterEach
  void close() {
    manager.close();
  }

  private HeldOutError measure(int k, LogProbEncoding encoding, Path scratch) {
    CacheKey key =
        new CacheKey("t", "byte", V, "gemma", "d", Map.of(), k, null, encoding.specName());
    return HeldOutError.measure(
        teacher,
        rows,
        PAD,
        key,
        new TeacherPass.Settings(k, null, 2, encoding, 4, 5),
        manager,
        scratch);
  }

  /** The same quantity in double from the full logits, sequence by sequence. */
  private double[] expected(int k) {
    double kl = 0;
    double tail = 0;
    long n = 0;
    for (Sequence s : rows) {
      Batch b = Batch.of(List.of(s), 0, PAD);
      float[] z;
      try (NDManager m = manager.newSubManager();
          NoGrad ignored = NoGrad.enter()) {
        NDArray ids = m.create(b.inputIds(), new Shape(1, b.seqLen()));
        z = teacher.forward(ids, null).toFloatArray();
      }
      for (int i = 0; i < b.lossMask().length; i++) {
        if (b.lossMask()[i] == 0f) {
          continue;
        }
        double[] p = new double[V];
        double sum = 0;
        for (int v = 0; v < V; v++) {
          p[v] = Math.exp(z[i * V + v]);
          sum += p[v];
        }
        for (int v = 0; v < V; v++) {
          p[v] /= sum;
        }
        double[] pp = p;
        Integer[] order = IntStream.range(0, V).boxed().toArray(Integer[]::new);
        Arrays.sort(order, Comparator.comparingDouble(v -> -pp[v]));
        double rest = 0;
        for (int j = k; j < V; j++) {
          rest += p[order[j]];
        }
        double klPos = 0;
        for (int j = 0; j < V; j++) {
          int v = order[j];
          double q = j < k ? p[v] : rest / (V - k);
          klPos += p[v] * Math.log(p[v] / q);
        }
        kl += klPos;
        tail += rest;
        n++;
      }
    }
    return new double[] {kl / n, tail / n, n};
  }

  @Test
  void topKCoveringTheVocabularyHasNoError() {
    HeldOutError e = measure(V, LogProbEncoding.F32, tmp.resolve("full"));
    assertThat(e.positions()).isEqualTo((long) expected(V)[2]);
    assertThat(e.meanKl()).isCloseTo(0.0, within(1e-6));
    assertThat(e.meanTailMass()).isCloseTo(0.0, within(1e-6));
  }

  @Test
  void aSmallerTopKGivesTheTailsKlAndTheScratchCacheIsDeleted() {
    Path scratch = tmp.resolve("k4");
    HeldOutError e = measure(4, LogProbEncoding.F32, scratch);
    double[] want = expected(4);
    assertThat(want[0]).isPositive();
    assertThat(e.positions()).isEqualTo((long) want[2]);
    assertThat(e.meanKl()).isCloseTo(want[0], within(1e-5));
    assertThat(e.meanTailMass()).isCloseTo(want[1], within(1e-5));
    assertThat(Files.exists(scratch)).isFalse();
    // q16 rounding moves it by at most a few 2^-12 nats
    assertThat(measure(4, LogProbEncoding.Q16, tmp.resolve("q")).meanKl())
        .isCloseTo(want[0], within(1e-3));
  }
}
