package dev.distill.service.auth;

import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.RequestAttribute;
import org.springframework.web.bind.annotation.RestController;

/**
 * {@code GET /v1/whoami}: what the caller's token is (project, role, name) and whether it may
 * create and cancel jobs, so a client (the web console) can check a token and hide what the role
 * may not do without repeating the role rules. Any user token; never the secret.
 */
@RestController
class WhoAmIController {

  /**
   * @param canWriteJobs whether the role may create and cancel jobs ({@link Role#canWriteJobs()})
   */
  record WhoAmI(String project, String role, String tokenName, boolean canWriteJobs) {}

  @GetMapping("/v1/whoami")
  WhoAmI whoami(@RequestAttribute(Caller.ATTRIBUTE) Caller caller) {
    return new WhoAmI(
        caller.project(), caller.role().json(), caller.tokenName(), caller.role().canWriteJobs());
  }
}
