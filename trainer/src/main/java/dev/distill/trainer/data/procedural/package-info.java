/**
 * The procedural instruction dataset: short tasks generated from a seed (arithmetic, reversal,
 * sorting, counting, unit conversion, ... with one exact answer, and naming tasks with several
 * valid answers), small enough for a character-level model on CPU to learn in minutes and to be
 * scored by exact match. No files: everything is generated.
 */
package dev.distill.trainer.data.procedural;
