package dev.distill.trainer.cache;

import java.util.Locale;

/**
 * How a shard stores each log-probability.
 *
 * <ul>
 *   <li>{@link #F32}: the fp32 value as computed, 4 bytes.
 *   <li>{@link #Q16}: 2 bytes, {@code code = round(-log p / STEP)} with {@code STEP = 2^-11} nats,
 *       clamped to 65535: every value above {@value #Q16_FLOOR} nats is stored within {@link
 *       #maxError()} = 2^-12 (about 2.4e-4) of itself, so each probability within a factor of
 *       e^(2.4e-4); below the floor (p &lt; 1.3e-14) it is stored as the floor.
 * </ul>
 *
 * The tail's log mass is always stored as fp32.
 */
public enum LogProbEncoding {
  F32(0, 4),
  Q16(1, 2);

  /** Q16's step in nats: 2^-11. */
  public static final double STEP = 1.0 / 2048;

  /** The lowest log-probability Q16 holds: -65535 * STEP, about -32.0. */
  public static final double Q16_FLOOR = -65535 * STEP;

  /** The code in the shard header. */
  final int code;

  /** Bytes per stored log-probability. */
  final int bytes;

  LogProbEncoding(int code, int bytes) {
    this.code = code;
    this.bytes = bytes;
  }

  /** The largest |stored - computed| for a log-probability above {@link #Q16_FLOOR}. */
  public double maxError() {
    return this == F32 ? 0.0 : STEP / 2;
  }

  /** The name in a spec and in the manifest: {@code f32}, {@code q16}. */
  public String specName() {
    return name().toLowerCase(Locale.ROOT);
  }

  static LogProbEncoding ofCode(int code) {
    for (LogProbEncoding e : values()) {
      if (e.code == code) {
        return e;
      }
    }
    return null;
  }

  /** Q16's code of a log-probability (at most 0). */
  static int quantize(float logProb) {
    long q = Math.round(-logProb / STEP);
    return (int) Math.max(0, Math.min(65535, q));
  }

  static float dequantize(int code) {
    return (float) (-code * STEP);
  }
}
