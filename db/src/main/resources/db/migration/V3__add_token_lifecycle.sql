-- Token lifecycle: an optional expiry (an expired token is refused) and when a token was last used
-- (updated at most once a minute). Revoking a token deletes its row.
ALTER TABLE api_tokens
    ADD COLUMN expires_at   timestamptz,
    ADD COLUMN last_used_at timestamptz;

CREATE INDEX api_tokens_project_idx ON api_tokens (project, created_at);
