package dev.distill.spec;

import java.util.regex.Pattern;

/**
 * Syntax rules for model and dataset references; which roots are allowed is the service's to
 * decide.
 */
final class Refs {

  private static final Pattern UUID =
      Pattern.compile(
          "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}");
  private static final Pattern NAME = Pattern.compile("[a-z0-9][a-z0-9._-]{0,63}");

  private Refs() {}

  /**
   * For a {@code builtin:} reference with a well-formed name: whether the name is one of {@code
   * known}. Other schemes are left alone.
   *
   * @param kind what the name names, for the message ({@code model}, {@code dataset})
   */
  static void checkBuiltin(
      Violations v, String field, String uri, String kind, java.util.List<String> known) {
    if (uri == null || !uri.startsWith(ModelRef.BUILTIN)) {
      return;
    }
    String name = uri.substring(ModelRef.BUILTIN.length());
    int q = name.indexOf('?');
    // a malformed name has been reported by check(); no second error for it
    if (NAME.matcher(q < 0 ? name : name.substring(0, q)).matches() && !known.contains(name)) {
      v.add(
          field,
          "unknown builtin "
              + kind
              + " '"
              + name
              + "', expected one of "
              + String.join(", ", known.stream().map(n -> ModelRef.BUILTIN + n).toList()));
    }
  }

  static void check(Violations v, String field, String uri) {
    if (uri == null || uri.isBlank()) {
      v.add(field, "is required");
      return;
    }
    if (uri.indexOf('\0') >= 0) {
      v.add(field, StoredValues.NUL_MESSAGE);
      return;
    }
    if (uri.length() > 2048) {
      v.add(field, "is longer than 2048 characters");
      return;
    }
    if (uri.startsWith(ModelRef.BUILTIN)) {
      String name = uri.substring(ModelRef.BUILTIN.length());
      int q = name.indexOf('?');
      String base = q < 0 ? name : name.substring(0, q);
      if (!NAME.matcher(base).matches()) {
        v.add(field, "builtin name '" + base + "' must match " + NAME.pattern());
      }
    } else if (uri.startsWith(ModelRef.FILE)) {
      String path = uri.substring(ModelRef.FILE.length());
      if (!path.startsWith("/")) {
        v.add(field, "file: path must be absolute, was '" + path + "'");
      }
      for (String segment : path.split("/")) {
        if (segment.equals("..")) {
          v.add(field, "'..' is not allowed in a path");
          break;
        }
      }
    } else if (Endpoints.isEndpoint(uri)) {
      try {
        Endpoints.baseUrl(uri);
      } catch (IllegalArgumentException e) {
        v.add(field, "openai: base URL " + e.getMessage() + ", was '" + uri + "'");
      }
    } else if (uri.startsWith(ModelRef.JOB)) {
      if (!UUID.matcher(uri.substring(ModelRef.JOB.length())).matches()) {
        v.add(field, "job: must be followed by a job id (a UUID), was '" + uri + "'");
      }
    } else {
      v.add(field, "scheme must be builtin:, file:, job: or openai:, was '" + uri + "'");
    }
  }
}
