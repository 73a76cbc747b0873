/**
 * The one-command demo ({@code ./distill demo}): starts the service and a worker as separate
 * processes, runs teacher, distilled student and baseline through the REST API, evaluates them and
 * writes the report ({@code report.md}, {@code report.json}, PNG loss curves).
 */
package dev.distill.app.demo;
