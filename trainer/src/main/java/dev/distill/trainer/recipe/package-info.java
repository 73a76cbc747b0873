/**
 * The training recipe: one class owns the loop in plain sight (setup, train, save_checkpoint,
 * cleanup, as in torchtune's KD recipe) and composes the model, data, loss and optimiser packages;
 * the evaluation and Magpie synthesis recipes sit beside it, each owning its own loop. The hooks
 * here ({@link dev.distill.trainer.recipe.TrainingListener}, {@link
 * dev.distill.trainer.recipe.StopSignal}) let the worker report progress and stop a run without
 * changing anything inside the loop.
 */
package dev.distill.trainer.recipe;
