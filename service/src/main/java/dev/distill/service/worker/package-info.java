/**
 * The worker protocol under {@code /v1/worker/*}: claims (long-polled, {@code FOR UPDATE SKIP
 * LOCKED}, woken by LISTEN/NOTIFY), leases with heartbeats and epoch fencing, the worker's writes,
 * the reaper of expired leases, and {@code GET /v1/workers}. Job status rules live in {@code job}.
 */
package dev.distill.service.worker;
