/**
 * Our own reader and writer of the safetensors format (DJL's codec has no bf16, no files over 2 GiB
 * and no shards): header JSON plus offsets, F32/F16/BF16 converted to fp32 in Java before anything
 * reaches DJL, memory-mapped reading in chunks, and sharded checkpoints with {@code
 * model.safetensors.index.json}. Knows nothing about any model: tensor names come from the model
 * packages.
 */
package dev.distill.trainer.safetensors;
