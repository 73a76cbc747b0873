/**
 * {@code ./distill cluster}: the embedded PostgreSQL with the service, N workers and Prometheus as
 * local processes, scraped with the scrape configuration docker-compose uses. No picocli here; the
 * command in {@code cli} only parses options.
 */
package dev.distill.app.cluster;
