/**
 * The memory plan: how many bytes a job needs on its device, by component, computed by arithmetic
 * from the model shapes and the spec, with no tensor library. Shared by the service (which sets a
 * job's memory requirement at submission), the worker (which checks {@code file:} models at start)
 * and {@code distill plan}. Nothing here allocates or measures memory.
 */
package dev.distill.spec.plan;
