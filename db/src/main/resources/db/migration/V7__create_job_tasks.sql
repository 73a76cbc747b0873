-- The tasks of a job whose work divides into independent parts: a teacher_pass job with shards >= 2 has one
-- 'shard' task per shard (idx = the shard) and one 'seal' task (idx = shards) that becomes claimable once every
-- shard task succeeded. Each task is leased, heartbeated, fenced and retried on its own; the job's status is
-- derived from its tasks (service/job/JobTasks). Jobs without tasks keep their lease in jobs as before.
CREATE TABLE job_tasks (
    job_id            uuid        NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    idx               integer     NOT NULL,
    kind              text        NOT NULL CHECK (kind IN ('shard', 'seal')),
    status            text        NOT NULL CHECK (status IN ('QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED')),
    attempts          integer     NOT NULL DEFAULT 0, -- how many times this task was started
    worker_id         text,       -- the worker holding the lease, else the last one that did
    lease_id          uuid        UNIQUE,
    lease_expires_at  timestamptz,
    epoch             bigint      NOT NULL DEFAULT 0, -- the fencing token of the current lease, drawn from jobs.epoch
    progress          bigint      NOT NULL DEFAULT 0, -- sequences done, as the worker last reported
    last_error        text,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (job_id, idx)
);
CREATE INDEX job_tasks_claim ON job_tasks (job_id, idx) WHERE status = 'QUEUED';
CREATE INDEX job_tasks_lease_expiry ON job_tasks (lease_expires_at) WHERE status = 'RUNNING';
