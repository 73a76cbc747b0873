package dev.distill.service.auth;

import java.util.Locale;

/** What a token may do. JSON and database: lower case. */
public enum Role {
  /** Everything in its project, and creating tokens. */
  ADMIN,
  /** Create, read and cancel jobs of its project. */
  MEMBER,
  /** Read jobs and workers of its project. */
  VIEWER,
  /** Only the worker protocol ({@code /v1/worker/*}), for jobs of its project. */
  WORKER;

  public String json() {
    return name().toLowerCase(Locale.ROOT);
  }

  public static Role parse(String s) {
    for (Role r : values()) {
      if (r.json().equals(s)) {
        return r;
      }
    }
    return null;
  }

  public boolean canWriteJobs() {
    return this == ADMIN || this == MEMBER;
  }
}
