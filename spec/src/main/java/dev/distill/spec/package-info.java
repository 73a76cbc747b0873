/**
 * The job spec: plain, immutable records shared by the service (which validates what clients
 * submit) and the worker (which runs it), so the contract is written once. JSON names are
 * snake_case and fixed here by annotations; every record checks itself through {@link
 * dev.distill.spec.JobSpec}'s constructor. No framework code lives here beyond Jackson annotations.
 */
package dev.distill.spec;
