-- Whether a queued job's memory requirement was last found above every live worker that could claim it
-- (same project, device and labels): the state its no_worker_fits / worker_fits events report, one event per
-- change. Kept here, not in memory, so that a restarted service (or a second replica) does not say it again.
CREATE TABLE job_fit (
    job_id                   uuid        PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
    unfittable               boolean     NOT NULL,
    largest_worker_memory_mb bigint      NOT NULL, -- the largest live matching worker when it last changed
    changed_at               timestamptz NOT NULL DEFAULT now()
);
