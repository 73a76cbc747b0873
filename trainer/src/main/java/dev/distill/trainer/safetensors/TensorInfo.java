package dev.distill.trainer.safetensors;

import ai.djl.ndarray.types.Shape;

/**
 * One header entry of a safetensors file.
 *
 * @param name the tensor name
 * @param dtype its stored dtype
 * @param shape its shape
 * @param begin first byte, relative to the start of the data section
 * @param end one past the last byte, relative to the start of the data section
 */
public record TensorInfo(String name, SafetensorsDtype dtype, Shape shape, long begin, long end) {

  /** Bytes of the stored tensor. */
  public long byteSize() {
    return end - begin;
  }
}
