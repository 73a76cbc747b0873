-- Every lease ever granted, so that a worker whose lease was lost can still deliver the metric points it
-- buffered (late points, inserted only where the job has none yet): the service finds the job of an old
-- lease here. One row per claim; the epoch is unique per job.
CREATE TABLE job_leases (
    lease_id    uuid        PRIMARY KEY,
    job_id      uuid        NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    epoch       bigint      NOT NULL,
    attempt     integer     NOT NULL,
    worker_id   text        NOT NULL,
    claimed_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (job_id, epoch)
);

-- A released run does not count an attempt, so the next run has the same attempt number: a worker's events
-- are now unique per run (the lease's epoch) and seq instead of per attempt and seq. Rows written before
-- this migration keep epoch NULL.
ALTER TABLE job_events ADD COLUMN epoch bigint;
ALTER TABLE job_events DROP CONSTRAINT job_events_job_id_attempt_seq_key;
ALTER TABLE job_events ADD CONSTRAINT job_events_run_seq UNIQUE (job_id, epoch, seq);
