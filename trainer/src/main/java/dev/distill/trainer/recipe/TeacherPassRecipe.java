package dev.distill.trainer.recipe;

import ai.djl.ndarray.NDManager;
import dev.distill.spec.DatasetSpec;
import dev.distill.spec.JobSpec;
import dev.distill.spec.JobType;
import dev.distill.spec.ModelRef;
import dev.distill.spec.TeacherPassSettings;
import dev.distill.spec.plan.Precision;
import dev.distill.trainer.cache.CacheKey;
import dev.distill.trainer.cache.HeldOutError;
import dev.distill.trainer.cache.LogProbEncoding;
import dev.distill.trainer.cache.TeacherCache;
import dev.distill.trainer.cache.TeacherCacheException;
import dev.distill.trainer.cache.TeacherPass;
import dev.distill.trainer.checkpoint.Checkpoint;
import dev.distill.trainer.checkpoint.CheckpointManager;
import dev.distill.trainer.checkpoint.TrainerState;
import dev.distill.trainer.data.DatasetSplits;
import dev.distill.trainer.data.Datasets;
import dev.distill.trainer.model.Devices;
import dev.distill.trainer.tokenize.Tokenizers;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * The recipe of {@code teacher_pass} jobs: the teacher's forward pass (no grad) over the training
 * split, written as a sharded top-k cache ({@code docs/teacher-cache.md}) into {@code <cache
 * store>/<key sha256>/}. A sealed cache of the same key is reused as it is ({@code cache_reused}
 * event); shards already on disk that verify are kept ({@code shard_reused}), so a pass killed
 * mid-way loses only the shard it was writing. The output (final checkpoint) is the cache
 * directory.
 */
public final class TeacherPassRecipe {

  /** The tokenizer's copy in a cache directory: what a builtin student without one uses. */
  public static final String TOKENIZER_DIR = "tokenizer";

  private TeacherPassRecipe() {}

  /** The whole pass in one run: every shard in turn, then the seal. */
  public static RunResult run(JobSpec spec, RunContext ctx) {
    return withPass(spec, ctx, TeacherPassRecipe::writeAll);
  }

  /**
   * One task of a pass that runs as tasks (the service hands them out, {@code
   * docs/teacher-cache.md}): writes shard {@code shard} alone, or keeps it when it is on disk and
   * verifies. The output is the seal's; a shard task registers none.
   */
  public static RunResult runShard(JobSpec spec, RunContext ctx, int shard) {
    int shards = spec.teacherPass().shards();
    if (shard < 0 || shard >= shards) {
      throw new IllegalArgumentException("shard " + shard + " of " + shards + " does not exist");
    }
    return withPass(
        spec,
        ctx,
        (p, existing) -> {
          RunResult r;
          if (existing.isPresent()) {
            announceReuse(p.ctx(), p.key(), p.dir()); // the seal task registers the output
            r = new RunResult(RunResult.Outcome.COMPLETED, 0, 0, null, Map.of());
          } else {
            r = one(p, shard);
          }
          if (shard == 0
              && r.outcome() == RunResult.Outcome.COMPLETED
              && HeldOutError.read(p.dir()).isEmpty()) {
            // the seal loads no teacher: this task, which has, measures for it
            heldOut(p).save(p.dir());
          }
          return r;
        });
  }

  /**
   * The last task of a pass that runs as tasks, once every shard task succeeded: checks that every
   * shard is on disk and verifies, copies the tokenizer, writes the manifest and registers the
   * cache as the job's output. It loads no teacher: the key needs only the teacher's tokenizer and
   * the files that name its weights, and the held-out error was measured by shard 0's task ({@link
   * HeldOutError#FILE}).
   */
  public static RunResult runSeal(JobSpec spec, RunContext ctx) {
    requireTeacherPass(spec);
    Models.TokenizerOf tokenizer = Models.tokenizerOf(spec.teacher(), ctx);
    DatasetSpec data = DatasetRefs.resolve(spec.dataset(), ctx);
    DatasetSplits splits = openSplits(spec, data, tokenizer);
    CacheKey key = CacheKeys.of(spec, tokenizer, teacherDir(spec.teacher(), ctx), data);
    Path dir = cacheDir(ctx, key);
    int shards = spec.teacherPass().shards();
    Optional<TeacherCache.Manifest> existing = sealedCache(dir);
    TeacherCache.Manifest m;
    if (existing.isPresent()) {
      announceReuse(ctx, key, dir);
      m = existing.get();
    } else {
      for (int shard = 0; shard < shards; shard++) {
        if (!TeacherPass.isDone(dir, key, shards, shard)) {
          // its task succeeded, so the workers do not share this artifact store (or it lost it)
          throw new TeacherCacheException(
              "teacher cache shard "
                  + dir.resolve(TeacherCache.shardName(shard, shards))
                  + ": missing or unreadable when sealing (do all workers share the storage"
                  + " root?)");
        }
      }
      saveTokenizer(tokenizer, dir);
      m = TeacherPass.seal(dir, key, shards, splits.train().size());
    }
    Optional<HeldOutError> error = HeldOutError.read(dir);
    if (error.isEmpty()) {
      ctx.listener()
          .onEvent(
              "warning",
              "no held-out error in " + dir + " (shard 0's task measures it): not reported");
    }
    return finish(spec, ctx, dir, m, error, 0);
  }

  /** A loaded teacher, its pass and where the cache goes. */
  private record Pass(
      JobSpec spec,
      RunContext ctx,
      Models.Loaded teacher,
      CacheKey key,
      Path dir,
      TeacherPass pass,
      int sequences,
      int shards,
      DatasetSplits splits,
      TeacherPass.Settings settings,
      NDManager manager) {}

  private interface Body {
    RunResult run(Pass pass, Optional<TeacherCache.Manifest> existing);
  }

  /**
   * Loads the teacher and the split, finds the cache's directory by key, then runs {@code body}.
   */
  private static RunResult withPass(JobSpec spec, RunContext ctx, Body body) {
    requireTeacherPass(spec);
    TeacherPassSettings s = spec.teacherPass();
    Precision precision =
        Precision.resolve(spec.hyperparameters().precision(), Devices.kind(Models.device(ctx)));
    // frozen: a bf16/fp16 checkpoint stays in its dtype
    try (NDManager manager = NDManager.newBaseManager(Models.device(ctx));
        Models.Loaded teacher =
            Models.resolve(
                spec.teacher(),
                ctx,
                manager,
                spec.hyperparameters().seed() + 1,
                null,
                precision,
                Models.Weights.FROZEN)) {
      teacher.model().requireGradients(false);
      DatasetSpec data = DatasetRefs.resolve(spec.dataset(), ctx);
      Models.TokenizerOf tokenizer =
          new Models.TokenizerOf(teacher.tokenizer(), teacher.tokenizerSource());
      DatasetSplits splits = openSplits(spec, data, tokenizer);
      CacheKey key = CacheKeys.of(spec, tokenizer, teacherDir(spec.teacher(), ctx), data);
      Path dir = cacheDir(ctx, key);
      Optional<TeacherCache.Manifest> existing = sealedCache(dir);
      int chunk = Models.lossChunk(spec.hyperparameters().lossChunkSize(), teacher, null);
      TeacherPass.Settings settings =
          new TeacherPass.Settings(
              s.topK(),
              s.massBound(),
              s.shards(),
              LogProbEncoding.valueOf(s.encoding().toUpperCase(Locale.ROOT)),
              spec.hyperparameters().microBatchSize(),
              chunk);
      TeacherPass pass =
          new TeacherPass(
              teacher.model(), splits.train(), teacher.tokenizer().padId(), key, settings, manager);
      return body.run(
          new Pass(
              spec,
              ctx,
              teacher,
              key,
              dir,
              pass,
              splits.train().size(),
              s.shards(),
              splits,
              settings,
              manager),
          existing);
    }
  }

  private static void requireTeacherPass(JobSpec spec) {
    if (spec.type() != JobType.TEACHER_PASS) {
      throw new IllegalArgumentException(
          "the teacher pass runs teacher_pass jobs, not " + spec.type().json());
    }
  }

  /** The dataset's splits in the teacher's tokens; the training split must not be empty. */
  private static DatasetSplits openSplits(
      JobSpec spec, DatasetSpec data, Models.TokenizerOf tokenizer) {
    DatasetSplits splits = Datasets.open(data, tokenizer.tokenizer());
    if (splits.train().isEmpty()) {
      throw new IllegalArgumentException(
          "dataset " + spec.dataset().uri() + ": no training examples");
    }
    return splits;
  }

  /** The cache's directory: by key in the store, else in the run's output directory. */
  private static Path cacheDir(RunContext ctx, CacheKey key) {
    return ctx.cacheStore() == null
        ? ctx.outputDir().resolve("teacher-cache")
        : ctx.cacheStore().resolve(key.hex());
  }

  /** A sealed cache of the same key: reused as it is, nothing recomputed. */
  private static RunResult reused(Pass p, Optional<TeacherCache.Manifest> existing, double rate) {
    announceReuse(p.ctx(), p.key(), p.dir());
    return finish(p.spec(), p.ctx(), p.dir(), existing.get(), Optional.of(heldOut(p)), rate);
  }

  private static void announceReuse(RunContext ctx, CacheKey key, Path dir) {
    ctx.listener()
        .onEvent(
            "cache_reused",
            "a teacher cache of the same key ("
                + key.hex().substring(0, 16)
                + "...) is complete in "
                + dir
                + ": reused, nothing recomputed");
  }

  private static RunResult writeAll(Pass p, Optional<TeacherCache.Manifest> existing) {
    if (existing.isPresent()) {
      return reused(p, existing, 0);
    }
    RunContext ctx = p.ctx();
    TeacherPassSettings s = p.spec().teacherPass();
    ctx.listener()
        .onEvent(
            "started",
            String.format(
                "teacher_pass: teacher %,d parameters; %d training sequences in %d shards, top_k %d",
                p.teacher().model().config().parameterCount(),
                p.sequences(),
                s.shards(),
                s.topK()));
    int n = p.sequences();
    long done = 0;
    long positions = 0;
    double seconds = 0;
    for (int shard = 0; shard < s.shards(); shard++) {
      int[] range = TeacherPass.range(n, s.shards(), shard);
      if (p.pass().isDone(p.dir(), shard)) {
        ctx.listener().onEvent("shard_reused", "shard " + shard + " is on disk and verifies");
        done += range[1] - range[0];
        continue;
      }
      TeacherPass.ShardReport r = write(p, shard, done);
      if (r == null) {
        return stopped(ctx, shard);
      }
      done += r.sequences();
      positions += r.positions();
      seconds += r.seconds();
    }
    return seal(p, seconds > 0 ? positions / seconds : 0);
  }

  /** A shard task: shard {@code shard} alone; progress counts this shard's sequences. */
  private static RunResult one(Pass p, int shard) {
    RunContext ctx = p.ctx();
    int[] range = TeacherPass.range(p.sequences(), p.shards(), shard);
    ctx.listener()
        .onEvent(
            "started",
            String.format(
                "teacher_pass task: shard %d of %d (sequences %d..%d), top_k %d",
                shard, p.shards(), range[0], range[1], p.spec().teacherPass().topK()));
    long total = range[1] - range[0];
    if (p.pass().isDone(p.dir(), shard)) {
      ctx.listener().onEvent("shard_reused", "shard " + shard + " is on disk and verifies");
      ctx.listener().onProgress(total, Map.of("sequences_done", (double) total));
      return new RunResult(RunResult.Outcome.COMPLETED, 0, total, null, Map.of());
    }
    TeacherPass.ShardReport r = write(p, shard, 0);
    if (r == null) {
      return stopped(ctx, shard);
    }
    Map<String, Double> metrics = new LinkedHashMap<>();
    metrics.put("sequences_done", (double) r.sequences());
    ctx.listener().onProgress(r.sequences(), metrics);
    return new RunResult(RunResult.Outcome.COMPLETED, 0, r.sequences(), null, metrics);
  }

  /**
   * Writes one shard, reporting progress as {@code before} plus this shard's sequences about 100
   * times over the pass; null when stopped.
   */
  private static TeacherPass.ShardReport write(Pass p, int shard, long before) {
    RunContext ctx = p.ctx();
    long every = Math.max(1, p.sequences() / 100);
    long[] reported = {before};
    TeacherPass.ShardReport r =
        p.pass()
            .writeShard(
                p.dir(),
                shard,
                () -> ctx.stop().check().isPresent(),
                k -> {
                  if (before + k - reported[0] >= every) {
                    reported[0] = before + k;
                    ctx.listener()
                        .onProgress(before + k, Map.of("sequences_done", (double) (before + k)));
                  }
                });
    if (r != null) {
      ctx.listener()
          .onEvent(
              "shard_written",
              String.format(
                  "shard %d: %d sequences, %d positions, %,d bytes in %.1f s",
                  shard, r.sequences(), r.positions(), r.bytes(), r.seconds()));
    }
    return r;
  }

  private static RunResult stopped(RunContext ctx, int shard) {
    StopSignal.Reason why = ctx.stop().check().orElse(StopSignal.Reason.PREEMPTED);
    ctx.listener()
        .onEvent(why.eventType(), "stopped in shard " + shard + "; finished shards are kept");
    return new RunResult(RunResult.Outcome.of(why), 0, 0, null, Map.of());
  }

  /**
   * Every shard is on disk: the tokenizer's copy, the held-out error (kept beside the shards, as a
   * sharded pass's seal reads it), the manifest, the output.
   */
  private static RunResult seal(Pass p, double positionsPerSecond) {
    saveTokenizer(
        new Models.TokenizerOf(p.teacher().tokenizer(), p.teacher().tokenizerSource()), p.dir());
    HeldOutError error = heldOut(p);
    error.save(p.dir());
    TeacherCache.Manifest m = p.pass().seal(p.dir());
    return finish(p.spec(), p.ctx(), p.dir(), m, Optional.of(error), positionsPerSecond);
  }

  private static Path teacherDir(ModelRef ref, RunContext ctx) {
    if (ref.isJob()) {
      return ctx.artifacts().get(ref.target());
    }
    return ref.isFile() ? Path.of(ref.target()) : null;
  }

  private static Optional<TeacherCache.Manifest> sealedCache(Path dir) {
    if (!TeacherCache.isSealed(dir)) {
      return Optional.empty();
    }
    try (TeacherCache c = TeacherCache.open(dir)) {
      return Optional.of(c.manifest());
    } catch (TeacherCacheException e) {
      return Optional.empty(); // damaged: its shards are checked one by one and rewritten
    }
  }

  private static void saveTokenizer(Models.TokenizerOf teacher, Path dir) {
    Path t = dir.resolve(TOKENIZER_DIR);
    try {
      Files.createDirectories(t);
      Tokenizers.save(teacher.tokenizer(), teacher.source(), t);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot copy the tokenizer into " + t, e);
    }
  }

  /** The most validation sequences the approximation error is measured on. */
  static final int HELD_OUT_SEQUENCES = 100;

  /**
   * The cache's approximation error on held-out data: the first validation sequences (none when the
   * split holds none out) through the same settings, against the teacher's full distribution.
   */
  private static HeldOutError heldOut(Pass p) {
    DatasetSplits splits = p.splits();
    List<dev.distill.trainer.data.Sequence> held =
        splits.validation().subList(0, Math.min(HELD_OUT_SEQUENCES, splits.validation().size()));
    return HeldOutError.measure(
        p.teacher().model(),
        held,
        p.teacher().tokenizer().padId(),
        p.key(),
        p.settings(),
        p.manager(),
        // its own scratch: two attempts of a shard 0 task may measure at once
        p.ctx().outputDir().resolve("held-out-error-" + java.util.UUID.randomUUID()));
  }

  /**
   * The cache directory as the job's output: a final "checkpoint" (step = positions stored).
   *
   * @param heldOut the cache's approximation error, when it was measured
   */
  private static RunResult finish(
      JobSpec spec,
      RunContext ctx,
      Path dir,
      TeacherCache.Manifest m,
      Optional<HeldOutError> heldOut,
      double positionsPerSecond) {
    HeldOutError error = heldOut.orElse(new HeldOutError(0, Double.NaN, Double.NaN));
    Map<String, Double> metrics = new LinkedHashMap<>();
    metrics.put("cache_sequences", (double) m.sequences());
    metrics.put("cache_positions", (double) m.positions());
    metrics.put("cache_bytes", (double) m.bytes());
    metrics.put("cache_bytes_per_position", m.bytesPerPosition());
    if (positionsPerSecond > 0) {
      metrics.put("teacher_positions_per_s", positionsPerSecond);
    }
    if (error.positions() > 0) {
      // KL(full teacher || the cache's reconstruction) per held-out position, nats
      metrics.put("cache_heldout_kl", error.meanKl());
      metrics.put("cache_heldout_tail_mass", error.meanTailMass());
      metrics.put("cache_heldout_positions", (double) error.positions());
    }
    TrainerState state =
        new TrainerState(
            TrainerState.FORMAT_VERSION,
            m.positions(),
            0,
            m.sequences(),
            spec.hyperparameters().seed(),
            m.positions(),
            SpecHash.of(spec),
            metrics);
    Checkpoint out =
        new Checkpoint(
            dir,
            m.positions(),
            state,
            m.bytes(),
            CheckpointManager.sha256(dir.resolve(TeacherCache.MANIFEST)),
            List.of());
    ctx.listener().onProgress(m.sequences(), metrics);
    ctx.listener().onCheckpoint(out, true);
    ctx.listener()
        .onEvent(
            "finished",
            String.format(
                "teacher cache %s: %d positions, %,d bytes (%.1f bytes per position)",
                dir, m.positions(), m.bytes(), m.bytesPerPosition()));
    return new RunResult(RunResult.Outcome.COMPLETED, 0, m.sequences(), out, metrics);
  }
}
