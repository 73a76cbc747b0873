/**
 * The teacher-logit cache: a teacher's top-k token distributions at every loss position of a
 * dataset's training split, written once by a teacher pass in shards and read back while a student
 * trains ({@code docs/teacher-cache.md} is the format). Nothing here trains; the loss that reads
 * the entries lives in {@code loss/}.
 */
package dev.distill.trainer.cache;
