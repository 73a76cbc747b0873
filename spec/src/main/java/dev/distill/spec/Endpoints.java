package dev.distill.spec;

import java.net.URI;
import java.net.URISyntaxException;
import java.util.Locale;

/**
 * The one rule for OpenAI-compatible endpoint references ({@code openai:<base URL>}): which base
 * URLs are well formed, and their canonical form. The service compares the canonical form with its
 * allow-list ({@code distill.endpoints}); the worker calls only {@code <canonical>/completions} and
 * {@code <canonical>/chat/completions} and never follows a redirect. User info ({@code user@host}),
 * queries, fragments, percent-escapes and dot segments are refused, so that no spelling of a URL
 * reaches a host or path other than the one the allow-list names.
 */
public final class Endpoints {

  /** The scheme of an endpoint model reference. */
  public static final String SCHEME = "openai:";

  private Endpoints() {}

  /** Whether a reference names an endpoint. */
  public static boolean isEndpoint(String uri) {
    return uri != null && uri.startsWith(SCHEME);
  }

  /**
   * The canonical form of a base URL: lower-case scheme and host, the port always written, no
   * trailing slash ({@code http://host:8000/v1}).
   *
   * @throws IllegalArgumentException saying what is wrong with it
   */
  public static String canonical(String baseUrl) {
    if (baseUrl == null || baseUrl.isBlank()) {
      throw new IllegalArgumentException("the base URL is empty");
    }
    if (baseUrl.indexOf('%') >= 0 || baseUrl.indexOf('\\') >= 0) {
      throw new IllegalArgumentException("percent-escapes and backslashes are not allowed");
    }
    for (int i = 0; i < baseUrl.length(); i++) {
      char c = baseUrl.charAt(i);
      if (c <= ' ' || c >= 0x7f) {
        throw new IllegalArgumentException("only printable ASCII without spaces is allowed");
      }
    }
    URI u;
    try {
      u = new URI(baseUrl);
    } catch (URISyntaxException e) {
      throw new IllegalArgumentException("is not a URL: " + e.getReason());
    }
    String scheme = u.getScheme() == null ? null : u.getScheme().toLowerCase(Locale.ROOT);
    if (!"http".equals(scheme) && !"https".equals(scheme)) {
      throw new IllegalArgumentException("must be an http:// or https:// URL");
    }
    if (u.getRawUserInfo() != null
        || (u.getRawAuthority() != null && u.getRawAuthority().contains("@"))) {
      throw new IllegalArgumentException("user info (user@host) is not allowed");
    }
    if (u.getHost() == null || u.getHost().isEmpty()) {
      throw new IllegalArgumentException("has no host name");
    }
    if (u.getRawQuery() != null || u.getRawFragment() != null) {
      throw new IllegalArgumentException("a query or fragment is not allowed");
    }
    String path = u.getRawPath() == null ? "" : u.getRawPath();
    for (String segment : path.split("/")) {
      if (segment.equals(".") || segment.equals("..")) {
        throw new IllegalArgumentException("'.' and '..' path segments are not allowed");
      }
    }
    while (path.endsWith("/")) {
      path = path.substring(0, path.length() - 1);
    }
    if (path.contains("//")) {
      throw new IllegalArgumentException("empty path segments are not allowed");
    }
    int port = u.getPort() >= 0 ? u.getPort() : scheme.equals("https") ? 443 : 80;
    return scheme + "://" + u.getHost().toLowerCase(Locale.ROOT) + ":" + port + path;
  }

  /** The canonical base URL of an {@code openai:} reference. */
  public static String baseUrl(String uri) {
    if (!isEndpoint(uri)) {
      throw new IllegalArgumentException("not an openai: reference: " + uri);
    }
    return canonical(uri.substring(SCHEME.length()));
  }
}
