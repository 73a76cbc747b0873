-- The job queue, its audit trail and what workers report. Append-only: change the schema in a new V<n> file.

CREATE TABLE api_tokens (
    id          uuid        PRIMARY KEY,
    name        text        NOT NULL,
    project     text        NOT NULL,
    role        text        NOT NULL CHECK (role IN ('admin', 'member', 'viewer', 'worker')),
    token_hash  text        NOT NULL UNIQUE, -- hex SHA-256 of the bearer token; the token itself is never stored
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE jobs (
    id                uuid        PRIMARY KEY,
    project           text        NOT NULL,
    type              text        NOT NULL,
    status            text        NOT NULL CHECK (status IN ('QUEUED', 'RUNNING', 'CANCELLING', 'SUCCEEDED', 'FAILED', 'CANCELLED')),
    spec              text        NOT NULL, -- the normalised JobSpec as JSON
    priority          integer     NOT NULL,
    attempts          integer     NOT NULL DEFAULT 0, -- how many times the job was started
    max_attempts      integer     NOT NULL,
    -- capability requirements copied out of the spec so claims can filter in SQL
    req_device        text,
    req_min_memory_mb bigint,
    req_labels        jsonb       NOT NULL DEFAULT '{}'::jsonb,
    idempotency_key   text,
    request_hash      text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    queued_at         timestamptz NOT NULL DEFAULT now(), -- when it last entered QUEUED: the claim order and queue wait
    started_at        timestamptz,
    finished_at       timestamptz,
    failure_reason    text,
    retryable         boolean,
    worker_id         text,
    lease_id          uuid        UNIQUE,
    lease_expires_at  timestamptz,
    epoch             bigint      NOT NULL DEFAULT 0, -- raised on every claim; fences writes of earlier leases
    output_uri        text,
    UNIQUE (project, idempotency_key)
);

CREATE INDEX jobs_claim_order ON jobs (project, priority DESC, queued_at, id) WHERE status = 'QUEUED';
CREATE INDEX jobs_lease_expiry ON jobs (lease_expires_at) WHERE status IN ('RUNNING', 'CANCELLING');
CREATE INDEX jobs_project_created ON jobs (project, created_at DESC, id DESC);

-- A job that names another job's output (job:<id>) waits for it to succeed.
CREATE TABLE job_dependencies (
    job_id      uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    depends_on  uuid NOT NULL REFERENCES jobs (id),
    PRIMARY KEY (job_id, depends_on)
);
CREATE INDEX job_dependencies_reverse ON job_dependencies (depends_on);

-- Every status transition (kind 'status', seq NULL) and every event a worker sent (seq per attempt, idempotent).
CREATE TABLE job_events (
    id          bigserial   PRIMARY KEY,
    job_id      uuid        NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    attempt     integer     NOT NULL,
    seq         bigint,
    ts          timestamptz NOT NULL DEFAULT now(),
    kind        text        NOT NULL,
    level       text        NOT NULL DEFAULT 'info',
    message     text,
    data        jsonb,
    UNIQUE (job_id, attempt, seq)
);
CREATE INDEX job_events_job ON job_events (job_id, id);

-- Step series; a retried batch upserts instead of duplicating.
CREATE TABLE job_metrics (
    job_id  uuid             NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    name    text             NOT NULL,
    step    bigint           NOT NULL,
    value   double precision NOT NULL,
    ts      timestamptz      NOT NULL,
    PRIMARY KEY (job_id, name, step)
);

CREATE TABLE checkpoints (
    id          bigserial   PRIMARY KEY,
    job_id      uuid        NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    attempt     integer     NOT NULL,
    uri         text        NOT NULL,
    step        bigint      NOT NULL,
    size_bytes  bigint      NOT NULL,
    sha256      text        NOT NULL,
    metrics     text        NOT NULL DEFAULT '{}', -- JSON object name -> value
    is_final    boolean     NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (job_id, uri)
);

CREATE TABLE workers (
    project           text        NOT NULL,
    id                text        NOT NULL,
    device            text        NOT NULL,
    memory_mb         bigint      NOT NULL,
    labels            text        NOT NULL DEFAULT '{}', -- JSON object
    registered_at     timestamptz NOT NULL DEFAULT now(),
    last_heartbeat_at timestamptz NOT NULL DEFAULT now(),
    current_job_id    uuid,
    PRIMARY KEY (project, id)
);
