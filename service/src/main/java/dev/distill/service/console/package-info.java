/**
 * The web console: static pages under {@code /console/} (HTML, plain JavaScript, CSS in {@code
 * resources/static/console}) that call the public {@code /v1} API with the token the user signs in
 * with, and the security headers those pages are served with. No API logic and no data access here.
 */
package dev.distill.service.console;
