package dev.distill.trainer.data;

import java.nio.charset.StandardCharsets;

/**
 * The deterministic train/validation split: an example goes to validation when a seeded 64-bit hash
 * of the whole example ({@link Example#splitKey()}: prompt and answer) falls below {@code
 * fraction}. The side depends only on the example and the seed, so it does not change when the file
 * is reordered or grows; duplicates land on one side, and so does every example of a prompt whose
 * answer is unique. A prompt with several answers can be on both sides, with different answers. The
 * validation share is about {@code fraction}, not exact.
 *
 * @param fraction share held out, in [0, 1), or 1: every example (an evaluate job over a whole
 *     file)
 * @param seed the split seed
 */
public record Split(double fraction, long seed) {

  public Split {
    if (!(fraction >= 0 && fraction <= 1)) {
      throw new IllegalArgumentException("validation_fraction must be in [0, 1], was " + fraction);
    }
  }

  public boolean isValidation(Example example) {
    return isValidation(example.splitKey());
  }

  public boolean isValidation(String key) {
    return fraction > 0 && unit(key) < fraction;
  }

  /** A uniform number in [0, 1) from the key and the seed. */
  double unit(String key) {
    long h = 0xcbf29ce484222325L; // FNV-1a 64
    for (byte b : key.getBytes(StandardCharsets.UTF_8)) {
      h ^= b & 0xff;
      h *= 0x100000001b3L;
    }
    return (mix(h ^ mix(seed)) >>> 11) * 0x1.0p-53;
  }

  /** SplitMix64's finaliser. */
  public static long mix(long z) {
    z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
    z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
    return z ^ (z >>> 31);
  }
}
