-- distill_reader: the read-only role of Grafana's PostgreSQL data source (the Jobs dashboard) and of KEDA's
-- queue-depth query. SELECT on the job tables they read and nothing else (no tokens, no workers, no events).
-- Created without login and without a password, so no secret is written in SQL: the service gives it LOGIN
-- and the password of DISTILL_DB_READER_PASSWORD at every start (service config/ReaderRole).
-- Roles belong to the PostgreSQL cluster, not to one database: an existing distill_reader (made by hand as
-- docs/operations.md used to say, or by another database's migration) is reused and only granted here.
-- A database user that may not create roles (a managed database's owner without CREATEROLE) skips the role;
-- docs/operations.md says how to create it by hand then.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'distill_reader') THEN
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = current_user AND (rolsuper OR rolcreaterole)) THEN
            RAISE NOTICE 'distill_reader not created: % may not create roles', current_user;
            RETURN;
        END IF;
        CREATE ROLE distill_reader NOLOGIN;
    END IF;
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO distill_reader', current_schema());
    GRANT SELECT ON jobs, job_metrics, job_dependencies TO distill_reader;
END
$$;
