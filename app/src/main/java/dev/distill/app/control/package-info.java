/**
 * HTTP clients of the control plane: {@link dev.distill.app.control.ApiClient} speaks JSON over the
 * REST API and turns RFC 9457 problem responses into {@link dev.distill.app.control.ApiException}s
 * with one-line messages. No database access lives here or anywhere in the worker.
 */
package dev.distill.app.control;
