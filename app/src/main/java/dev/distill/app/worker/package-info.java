/**
 * The worker process: claims jobs from the service over HTTP (it never has database credentials),
 * runs them with the recipe, heartbeats from its own thread, reports events, metrics and
 * checkpoints through buffering outboxes that survive service outages, honours cancellation between
 * steps and checkpoints on SIGTERM.
 */
package dev.distill.app.worker;
