/**
 * The training library: model, loss, data, tokenize, safetensors, checkpoint, optim, generate,
 * fused and recipe. It depends on {@code spec} and DJL only and never on the application ({@code
 * dev.distill.app}): {@code LibraryBoundaryTest} and the module's enforcer rule check it.
 */
package dev.distill.trainer;
