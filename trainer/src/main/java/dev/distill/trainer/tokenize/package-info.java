/**
 * Tokenizers: the {@link dev.distill.trainer.tokenize.Tokenizer} interface, any Hugging Face {@code
 * tokenizer.json} through DJL ({@link dev.distill.trainer.tokenize.HfTokenizer}, never truncating),
 * and the built-in byte-level {@link dev.distill.trainer.tokenize.ByteTokenizer} for models trained
 * from scratch. No prompt templates or datasets here: those live in {@code data}.
 */
package dev.distill.trainer.tokenize;
