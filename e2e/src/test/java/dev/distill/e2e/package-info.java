/**
 * End-to-end tests: the service jar and worker JVMs run as separate processes (started by {@link
 * dev.distill.app.demo.LocalProcesses}), talk real HTTP, and the service keeps its state in an
 * embedded PostgreSQL under a temporary DISTILL_HOME. Nothing here is mocked; the helpers only
 * start processes and read the public API.
 */
package dev.distill.e2e;
