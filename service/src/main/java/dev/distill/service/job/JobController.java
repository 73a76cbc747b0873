package dev.distill.service.job;

import dev.distill.service.auth.Caller;
import dev.distill.service.web.ApiException;
import dev.distill.spec.JobSpec;
import dev.distill.spec.JobType;
import java.net.URI;
import java.util.UUID;
import org.springframework.http.MediaType;
import org.springframework.http.ResponseEntity;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestAttribute;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RequestHeader;
import org.springframework.web.bind.annotation.RequestParam;
import org.springframework.web.bind.annotation.RestController;

/** {@code /v1/jobs}: create, list, read and cancel jobs of the caller's project. */
@RestController
class JobController {

  private final JobService jobs;

  JobController(JobService jobs) {
    this.jobs = jobs;
  }

  @PostMapping(path = "/v1/jobs", consumes = MediaType.APPLICATION_JSON_VALUE)
  ResponseEntity<JobResource> create(
      @RequestBody(required = false) JobSpec spec,
      @RequestHeader(name = "Idempotency-Key", required = false) String idempotencyKey,
      @RequestAttribute(Caller.ATTRIBUTE) Caller caller) {
    if (spec == null) {
      throw new ApiException(
          org.springframework.http.HttpStatus.BAD_REQUEST,
          "malformed-json",
          "Malformed request body",
          "the request body must be a JSON object with the job spec");
    }
    JobService.Created c = jobs.create(caller, spec, idempotencyKey);
    return ResponseEntity.created(URI.create("/v1/jobs/" + c.job().id()))
        .header("Idempotent-Replayed", Boolean.toString(!c.created()))
        .body(c.job());
  }

  @GetMapping("/v1/jobs")
  JobPage list(
      @RequestParam(name = "status", required = false) String status,
      @RequestParam(name = "type", required = false) String type,
      @RequestParam(name = "limit", defaultValue = "20") int limit,
      @RequestParam(name = "after", required = false) UUID after,
      @RequestAttribute(Caller.ATTRIBUTE) Caller caller) {
    if (limit < 1 || limit > 100) {
      throw ApiException.badParameter("limit", "must be between 1 and 100, was " + limit);
    }
    return jobs.list(caller, parseStatus(status), parseType(type), limit, after);
  }

  @GetMapping("/v1/jobs/{id}")
  JobResource get(@PathVariable("id") UUID id, @RequestAttribute(Caller.ATTRIBUTE) Caller caller) {
    return jobs.get(caller, id);
  }

  @PostMapping("/v1/jobs/{id}/cancel")
  JobResource cancel(
      @PathVariable("id") UUID id, @RequestAttribute(Caller.ATTRIBUTE) Caller caller) {
    return jobs.cancel(caller, id);
  }

  private static JobStatus parseStatus(String s) {
    if (s == null) {
      return null;
    }
    try {
      return JobStatus.valueOf(s.toUpperCase(java.util.Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw ApiException.badParameter(
          "status", "must be one of QUEUED, RUNNING, CANCELLING, SUCCEEDED, FAILED, CANCELLED");
    }
  }

  private static JobType parseType(String s) {
    if (s == null) {
      return null;
    }
    try {
      return JobType.fromJson(s);
    } catch (IllegalArgumentException e) {
      throw ApiException.badParameter("type", e.getMessage());
    }
  }
}
