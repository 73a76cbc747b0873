package dev.distill.service.auth;

import com.fasterxml.jackson.annotation.JsonProperty;
import dev.distill.service.web.ApiException;
import dev.distill.service.web.FieldError;
import java.util.ArrayList;
import java.util.List;
import org.springframework.http.HttpStatus;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestAttribute;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.ResponseStatus;
import org.springframework.web.bind.annotation.RestController;

/** {@code POST /v1/tokens} (admin only): issues a token, shown once. */
@RestController
class TokenController {

  private final TokenService tokens;

  TokenController(TokenService tokens) {
    this.tokens = tokens;
  }

  /**
   * @param name a label for the token
   * @param role admin, member, viewer or worker
   * @param project the project the token is bound to; default the caller's project
   */
  record TokenRequest(
      @JsonProperty("name") String name,
      @JsonProperty("role") String role,
      @JsonProperty("project") String project) {}

  record TokenResponse(String token, String name, String role, String project) {}

  @PostMapping("/v1/tokens")
  @ResponseStatus(HttpStatus.CREATED)
  TokenResponse create(
      @RequestBody TokenRequest body, @RequestAttribute(Caller.ATTRIBUTE) Caller caller) {
    List<FieldError> errors = new ArrayList<>();
    if (body.name() == null || !body.name().matches("[A-Za-z0-9._:-]{1,64}")) {
      errors.add(new FieldError("name", "is required: 1..64 of A-Z a-z 0-9 . _ : -"));
    }
    Role role = Role.parse(body.role());
    if (role == null) {
      errors.add(new FieldError("role", "must be one of admin, member, viewer, worker"));
    }
    String project = body.project() == null ? caller.project() : body.project();
    if (!project.matches("[a-z0-9][a-z0-9_-]{0,62}")) {
      errors.add(new FieldError("project", "must match [a-z0-9][a-z0-9_-]{0,62}"));
    }
    if (!errors.isEmpty()) {
      throw ApiException.invalid(errors);
    }
    return new TokenResponse(
        tokens.create(body.name(), project, role), body.name(), role.json(), project);
  }
}
