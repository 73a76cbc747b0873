/**
 * Jobs shown in a terminal: following a job's events with a progress line, tables of JSON rows,
 * metric rows flattened. Used by the command line and the demo; knows no picocli.
 */
package dev.distill.app.console;
