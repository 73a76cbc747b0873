/**
 * The {@code ./distill} command line: {@link dev.distill.trainer.cli.DistillCli} lists the
 * subcommands; the commands here call the REST API (submit, jobs, job, cancel, follow, metrics,
 * checkpoints). Every failure prints one line and exits non-zero; no stack traces reach the user.
 */
package dev.distill.trainer.cli;
