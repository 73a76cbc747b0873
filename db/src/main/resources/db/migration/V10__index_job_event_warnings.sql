-- The Jobs dashboard's "Warnings and errors, all jobs" panel reads the newest warn and error events across
-- every job in a time range; job_events grows by every event of every run, so that read gets its own partial
-- index (newest first), small because most events are info.
CREATE INDEX job_events_warnings ON job_events (ts DESC, id DESC) WHERE level IN ('warn', 'error');
