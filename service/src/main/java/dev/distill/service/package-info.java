/**
 * The control plane: a Spring Boot application whose features live in sub-packages ({@code job},
 * {@code worker}, {@code auth}, {@code web}, {@code config}, {@code metrics}). Nothing but the
 * application class lives here.
 */
package dev.distill.service;
