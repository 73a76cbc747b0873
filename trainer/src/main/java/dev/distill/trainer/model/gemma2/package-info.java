/**
 * Gemma 2 (Hugging Face {@code Gemma2ForCausalLM}) written by hand on DJL: its config record with
 * presets, the one table of Hugging Face tensor names, and the model itself (forward, KV-cached
 * forward, init, load, save). Reads and writes the Hugging Face directory layout; nothing about
 * training lives here.
 */
package dev.distill.trainer.model.gemma2;
