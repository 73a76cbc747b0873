package dev.distill.trainer.model;

import ai.djl.ndarray.NDArray;

/**
 * A causal language model that can run a few new positions at a time against a cache of past keys
 * and values.
 */
public interface IncrementalLm extends CausalLm {

  /** An empty cache for one sequence (batch of one). */
  KvCache newCache();

  /**
   * Runs new positions after those already in the cache, appends their keys and values to it and
   * returns their logits. The cache's arrays are kept alive by the cache (closed by {@link
   * KvCache#close()}), everything else is created in the caller's scope.
   *
   * @param inputIds (1, t) int64 ids of positions cache.length() .. cache.length() + t - 1
   * @param cache the cache of this sequence
   * @return (1, t, V) fp32 logits
   */
  NDArray forwardCached(NDArray inputIds, KvCache cache);
}
