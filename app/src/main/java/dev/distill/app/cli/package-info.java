/**
 * The {@code ./distill} command line: {@link dev.distill.app.cli.DistillCli} lists the subcommands,
 * and every picocli command lives here as a thin class that parses options and calls the library,
 * the worker, the demo or the REST API. Every failure prints one line and exits non-zero; no stack
 * traces reach the user. Nothing outside this package imports picocli.
 */
package dev.distill.app.cli;
