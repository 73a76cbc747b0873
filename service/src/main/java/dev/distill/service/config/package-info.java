/**
 * Settings ({@code distill.*} as one self-validating record) and the embedded PostgreSQL that
 * serves as the database when no URL is configured. No request handling lives here.
 */
package dev.distill.service.config;
