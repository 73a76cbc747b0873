/**
 * Benchmarks run by hand with {@code java -cp ...} (see {@code docs/benchmarks.md}); not unit tests
 * and never run by Surefire. Timing belongs here, never in a test.
 */
package dev.distill.trainer.bench;
