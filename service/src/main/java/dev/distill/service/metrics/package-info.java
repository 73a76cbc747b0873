/**
 * Prometheus metrics of the queue (Micrometer, base units): counters and histograms recorded by the
 * claim and lease code, and gauges refreshed from the database. No queue logic lives here.
 */
package dev.distill.service.metrics;
