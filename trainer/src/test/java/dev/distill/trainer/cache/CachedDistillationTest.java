package dev.distill.trainer.cache;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import dev.distill.trainer.data.Batch;
import dev.distill.trainer.data.Sequence;
import dev.distill.trainer.loss.KdKind;
import dev.distill.trainer.loss.KdLoss;
import dev.distill.trainer.loss.KdLossConfig;
import dev.distill.trainer.loss.LossParts;
import dev.distill.trainer.loss.TeacherTargets;
import dev.distill.trainer.loss.TinyLm;
import dev.distill.trainer.model.NoGrad;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A cached distillation against the online one on the same data and models: the cache is written by
 * {@link TeacherPass} (three shards, through the files) and read back; the same batch's loss is
 * computed both ways.
 *
 * <p>The bound (docs/teacher-cache.md): for forward KL, online - cached = (1/N) sum_t p_tail,t *
 * KL(P_tail,t / p_tail,t || Q_tail,t / q_tail,t), which lies in [0, (1/N) sum_t p_tail,t * max_{v
 * outside top-k} log(P~_t(v) / Q~_t(v))]; both sides are recomputed here in double from the full
 * logits. When k covers the vocabulary the two are equal (values and gradients) for every kind;
 * with q16 storage within (1/N) sum_t sum_i delta p_i e^delta (|log p_i - log q_i| + delta + 1),
 * delta = 2^-12.
 */
class CachedDistillationTest {

  private static final int V = 16;
  private static final int PAD = 0;

  @TempDir Path tmp;
  private NDManager manager;
  private TinyLm student;
  private TinyLm teacher;
  private List<Sequence> rows;

  @BeforeEach
  void open() {
    manager = NDManager.newBaseManager();
    student = new TinyLm(manager, V, 6, 1, true);
    teacher = new TinyLm(manager, V, 5, 2, false);
    Random r = new Random(5);
    rows = new ArrayList<>();
    for (int s = 0; s < 10; s++) {
      int n = 5 + r.nextInt(5);
      int[] ids = new int[n];
      boolean[] target = new boolean[n];
      for (int i = 0; i < n; i++) {
        ids[i] = 1 + r.nextInt(V - 1);
        target[i] = i >= 2;
      }
      rows.add(Sequence.of(ids, target));
    }
  }

  @AfterEach
  void close() {
    manager.close();
  }

  private TeacherCache write(String name, int k, LogProbEncoding encoding) {
    CacheKey key =
        new CacheKey("t", "byte", V, "gemma", "d", Map.of(), k, null, encoding.specName());
    TeacherPass pass =
        new TeacherPass(
            teacher, rows, PAD, key, new TeacherPass.Settings(k, null, 3, encoding, 4, 5), manager);
    Path dir = tmp.resolve(name);
    for (int s = 0; s < 3; s++) {
      assertThat(pass.writeShard(dir, s, () -> false, n -> {})).isNotNull();
    }
    pass.seal(dir);
    return TeacherCache.open(dir);
  }

  private record Run(float kd, float ce, Map<String, float[]> gradients) {}

  private Batch batch(int[] which) {
    List<Sequence> picked = new ArrayList<>();
    for (int i : which) {
      picked.add(rows.get(i));
    }
    return Batch.of(picked, 0, PAD);
  }

  private Run run(KdLossConfig config, int[] which, TeacherCache cache) {
    Batch b = batch(which);
    Shape bt = new Shape(b.batchSize(), b.seqLen());
    NDArray ids = manager.create(b.inputIds(), bt);
    NDArray labels = manager.create(b.labels(), bt);
    NDArray mask = manager.create(b.lossMask(), bt);
    KdLoss loss = new KdLoss(config);
    try (GradientCollector gc = manager.getEngine().newGradientCollector()) {
      NDArray sh = student.hidden(ids, null);
      KdLoss.Hidden h;
      if (cache == null) {
        NDArray th;
        try (NoGrad ignored = NoGrad.enter()) {
          th = teacher.hidden(ids, null);
        }
        h = new KdLoss.Hidden(student, sh, teacher, th);
      } else {
        h = KdLoss.Hidden.cached(student, sh, cache.targets(which));
      }
      LossParts p = loss.backward(gc, h, labels, mask, b.lossTokens());
      return new Run(p.kd().getFloat(), p.ce().getFloat(), student.takeGradients());
    }
  }

  private static final int[] WHICH = {7, 0, 3, 9};

  @Test
  void kCoveringTheVocabularyGivesTheOnlineLossAndGradientsForEveryKind() {
    TeacherCache cache = write("full", V, LogProbEncoding.F32);
    for (KdKind kind : KdKind.values()) {
      KdLossConfig c = new KdLossConfig(kind, 1.0, 0.7, 0.3, 3);
      Run online = run(c, WHICH, null);
      Run cached = run(c, WHICH, cache);
      assertThat(cached.kd()).as(kind + " kd").isCloseTo(online.kd(), within(1e-5f));
      assertThat(cached.ce()).as(kind + " ce").isEqualTo(online.ce());
      for (String name : online.gradients().keySet()) {
        float[] e = online.gradients().get(name);
        float[] a = cached.gradients().get(name);
        for (int i = 0; i < e.length; i++) {
          assertThat(a[i])
              .as(kind + " gradient " + name + "[" + i + "]")
              .isCloseTo(e[i], within(2e-5f));
        }
      }
    }
  }

  /** Per position of the batch, in double from the full logits: P, Q and the cache's top ids. */
  private double[] gapAndBound(TeacherCache cache) {
    Batch b = batch(WHICH);
    Shape bt = new Shape(b.batchSize(), b.seqLen());
    NDArray ids = manager.create(b.inputIds(), bt);
    float[] tz;
    float[] sz;
    try (NoGrad ignored = NoGrad.enter()) {
      tz = teacher.forward(ids, null).toFloatArray();
      sz = student.forward(ids, null).toFloatArray();
    }
    TeacherTargets targets = cache.targets(WHICH);
    double gap = 0;
    double bound = 0;
    int pos = 0;
    for (int i = 0; i < b.lossMask().length; i++) {
      if (b.lossMask()[i] == 0f) {
        continue;
      }
      double[] p = softmax(tz, i * V);
      double[] q = softmax(sz, i * V);
      boolean[] top = new boolean[V];
      for (int j = 0; j < targets.counts()[pos]; j++) {
        top[targets.ids()[pos * targets.k() + j]] = true;
      }
      double pt = 0;
      double qt = 0;
      for (int v = 0; v < V; v++) {
        if (!top[v]) {
          pt += p[v];
          qt += q[v];
        }
      }
      double kl = 0;
      double maxRatio = Double.NEGATIVE_INFINITY;
      for (int v = 0; v < V; v++) {
        if (!top[v]) {
          double a = p[v] / pt;
          double c = q[v] / qt;
          kl += a * Math.log(a / c);
          maxRatio = Math.max(maxRatio, Math.log(a / c));
        }
      }
      gap += pt * kl;
      bound += pt * maxRatio;
      pos++;
    }
    return new double[] {gap / pos, bound / pos};
  }

  private static double[] softmax(float[] z, int base) {
    double max = Double.NEGATIVE_INFINITY;
    for (int v = 0; v < V; v++) {
      max = Math.max(max, z[base + v]);
    }
    double sum = 0;
    double[] p = new double[V];
    for (int v = 0; v < V; v++) {
      p[v] = Math.exp(z[base + v] - max);
      sum += p[v];
    }
    for (int v = 0; v < V; v++) {
      p[v] /= sum;
    }
    return p;
  }

  @Test
  void topKStaysWithinTheTailBoundOfTheOnlineLoss() {
    for (int k : new int[] {1, 4, 8}) {
      TeacherCache cache = write("k" + k, k, LogProbEncoding.F32);
      KdLossConfig c = new KdLossConfig(KdKind.FORWARD_KL, 1.0, 1.0, 0.5, 4);
      double online = run(c, WHICH, null).kd();
      double cached = run(c, WHICH, cache).kd();
      double[] gb = gapAndBound(cache);
      double diff = online - cached;
      assertThat(gb[0]).as("k %d leaves a tail to bound", k).isGreaterThan(1e-4);
      assertThat(diff)
          .as("k %d: the gap is exactly the tail's KL", k)
          .isCloseTo(gb[0], within(2e-5));
      assertThat(diff).as("k %d: the gap is not negative", k).isGreaterThan(-2e-6);
      assertThat(diff).as("k %d: within the stated bound", k).isLessThanOrEqualTo(gb[1] + 2e-6);
    }
  }

  @Test
  void q16StorageStaysWithinItsStatedError() {
    TeacherCache exact = write("f32", V, LogProbEncoding.F32);
    TeacherCache q16 = write("q16", V, LogProbEncoding.Q16);
    KdLossConfig c = new KdLossConfig(KdKind.FORWARD_KL, 1.0, 1.0, 0.5, 4);
    double online = run(c, WHICH, null).kd();
    double quantised = run(c, WHICH, q16).kd();
    // the bound from the stored exact entries and the student's log-probs
    Batch b = batch(WHICH);
    NDArray ids = manager.create(b.inputIds(), new Shape(b.batchSize(), b.seqLen()));
    float[] sz;
    try (NoGrad ignored = NoGrad.enter()) {
      sz = student.forward(ids, null).toFloatArray();
    }
    TeacherTargets t = exact.targets(WHICH);
    double delta = LogProbEncoding.Q16.maxError();
    double bound = 0;
    int pos = 0;
    for (int i = 0; i < b.lossMask().length; i++) {
      if (b.lossMask()[i] == 0f) {
        continue;
      }
      double[] q = softmax(sz, i * V);
      for (int j = 0; j < t.counts()[pos]; j++) {
        double lp = t.logProbs()[pos * t.k() + j];
        double lq = Math.log(q[t.ids()[pos * t.k() + j]]);
        bound += delta * Math.exp(lp) * Math.exp(delta) * (Math.abs(lp - lq) + delta + 1);
      }
      pos++;
    }
    bound /= pos;
    assertThat(Math.abs(quantised - online)).isLessThanOrEqualTo(bound + 2e-6);
    assertThat(Math.abs(quantised - online)).as("q16 is not exact").isGreaterThan(0);
  }
}
