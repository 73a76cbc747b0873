-- distill_reader (V5) could read only jobs, job_metrics and job_dependencies, so tables added since (job_tasks,
-- V7; job_fit, V8) and the job history a dashboard shows (job_events: warnings and failures by level; job_leases,
-- checkpoints, workers) were refused to it. It now reads every table of the schema but two:
--   api_tokens             token hashes, names and roles: a leaked dashboard password must not tell who may
--                          call the API, nor give hashes to attack;
--   flyway_schema_history  Flyway's own bookkeeping, not job data.
-- A table added later needs its own GRANT in its migration: service ReaderRoleTest fails for a table the role
-- cannot read that is not named above (no ALTER DEFAULT PRIVILEGES, so a new secret table is never readable by
-- accident). As in V5, a database without the role (its user may not create roles) is left as it is.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'distill_reader') THEN
        GRANT SELECT ON job_events, job_leases, checkpoints, workers, job_tasks, job_fit TO distill_reader;
    END IF;
END
$$;
