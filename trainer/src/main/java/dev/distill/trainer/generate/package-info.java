/**
 * Text generation with a KV cache: greedy and seeded temperature / top-p sampling, stop token ids
 * and stop strings. One prompt at a time. Knows models only through {@link
 * dev.distill.trainer.model.IncrementalLm}.
 */
package dev.distill.trainer.generate;
