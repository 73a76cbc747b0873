package dev.distill.trainer.safetensors;

import ai.djl.ndarray.types.DataType;

/** The safetensors dtypes this project reads and writes, with their element sizes. */
public enum SafetensorsDtype {
  F32(4, DataType.FLOAT32),
  F16(2, DataType.FLOAT32),
  BF16(2, DataType.FLOAT32),
  I64(8, DataType.INT64),
  I32(4, DataType.INT32);

  private final int bytes;
  private final DataType loadedAs;

  SafetensorsDtype(int bytes, DataType loadedAs) {
    this.bytes = bytes;
    this.loadedAs = loadedAs;
  }

  /** Bytes per element in the file. */
  public int bytes() {
    return bytes;
  }

  /** The DJL type a tensor of this dtype is loaded as: floating types always become fp32. */
  public DataType loadedAs() {
    return loadedAs;
  }

  /**
   * The dtype of a header entry.
   *
   * @throws IllegalArgumentException naming the dtype when it is not supported
   */
  public static SafetensorsDtype parse(String name) {
    for (SafetensorsDtype d : values()) {
      if (d.name().equals(name)) {
        return d;
      }
    }
    throw new IllegalArgumentException(
        "unknown dtype '" + name + "' (supported: F32, F16, BF16, I64, I32)");
  }

  /** The bf16 bit pattern of a float, rounded to nearest even (NaN stays NaN). */
  static short floatToBf16(float f) {
    int bits = Float.floatToRawIntBits(f);
    if (Float.isNaN(f)) {
      return (short) ((bits >>> 16) | 0x40);
    }
    int rounding = 0x7FFF + ((bits >>> 16) & 1);
    return (short) ((bits + rounding) >>> 16);
  }

  static float bf16ToFloat(short h) {
    return Float.intBitsToFloat((h & 0xFFFF) << 16);
  }

  /** IEEE half to float, including subnormals, infinities and NaN. */
  static float f16ToFloat(short h) {
    int bits = h & 0xFFFF;
    int sign = (bits & 0x8000) << 16;
    int exp = (bits >>> 10) & 0x1F;
    int mant = bits & 0x3FF;
    if (exp == 0x1F) {
      return Float.intBitsToFloat(sign | 0x7F800000 | (mant << 13));
    }
    if (exp == 0) {
      if (mant == 0) {
        return Float.intBitsToFloat(sign);
      }
      float v = mant * 0x1p-24f; // subnormal: mant * 2^-24
      return sign != 0 ? -v : v;
    }
    return Float.intBitsToFloat(sign | ((exp - 15 + 127) << 23) | (mant << 13));
  }

  /** Float to IEEE half, rounded to nearest even; overflow gives infinity. */
  static short floatToF16(float f) {
    int bits = Float.floatToRawIntBits(f);
    int sign = (bits >>> 16) & 0x8000;
    if (Float.isNaN(f)) {
      return (short) (sign | 0x7E00);
    }
    float abs = Math.abs(f);
    if (abs >= 65520f) { // rounds to infinity
      return (short) (sign | 0x7C00);
    }
    if (abs < 0x1p-14f) { // subnormal half (or zero): value = m * 2^-24
      int m = Math.round(abs * 0x1p24f); // Math.round is half-up; fix ties to even below
      float exact = abs * 0x1p24f;
      if (exact - Math.floor(exact) == 0.5 && (m & 1) == 1) {
        m -= 1;
      }
      return (short) (sign | m);
    }
    int e = ((bits >>> 23) & 0xFF) - 127 + 15;
    int mant = bits & 0x7FFFFF;
    int half = (e << 10) | (mant >>> 13);
    int rest = mant & 0x1FFF;
    if (rest > 0x1000 || (rest == 0x1000 && (half & 1) == 1)) {
      half += 1; // may carry into the exponent, which is still correct
    }
    return (short) (sign | half);
  }
}
