package dev.distill.service.auth;

/**
 * The authenticated caller of a request, available to controllers as the request attribute {@link
 * #ATTRIBUTE}.
 *
 * @param project the only project the caller sees
 * @param role what the caller may do
 * @param tokenName the token's name, for logs and events
 */
public record Caller(String project, Role role, String tokenName) {
  public static final String ATTRIBUTE = "distill.caller";
}
