package dev.distill.trainer.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;

/**
 * Keys and values of past positions, per layer, for one sequence. The arrays live in the cache's
 * own manager, so per-step scopes of the caller do not close them.
 */
public final class KvCache implements AutoCloseable {

  private final NDManager manager;
  private final NDArray[] keys;
  private final NDArray[] values;
  private int length;

  /**
   * @param parent the manager whose device the cache uses
   * @param layers the number of decoder layers
   */
  public KvCache(NDManager parent, int layers) {
    this.manager = parent.newSubManager();
    this.keys = new NDArray[layers];
    this.values = new NDArray[layers];
  }

  /** Positions held. */
  public int length() {
    return length;
  }

  /** (1, KV, S, hd) keys of a layer, or null while empty. */
  public NDArray keys(int layer) {
    return keys[layer];
  }

  /** (1, KV, S, hd) values of a layer, or null while empty. */
  public NDArray values(int layer) {
    return values[layer];
  }

  /**
   * Replaces a layer's keys and values with the longer ones; the cache takes ownership of the new
   * arrays.
   *
   * @param k (1, KV, S, hd)
   * @param v (1, KV, S, hd)
   */
  public void put(int layer, NDArray k, NDArray v) {
    NDArray oldK = keys[layer];
    NDArray oldV = values[layer];
    k.attach(manager);
    v.attach(manager);
    NDScope.unregister(k, v);
    keys[layer] = k;
    values[layer] = v;
    if (oldK != null) {
      oldK.close();
      oldV.close();
    }
  }

  /** Records that t positions were added (after every layer was updated). */
  public void advance(int t) {
    length += t;
  }

  @Override
  public void close() {
    manager.close();
  }
}
