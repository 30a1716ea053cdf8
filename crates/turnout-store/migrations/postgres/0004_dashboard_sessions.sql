-- The operator's dashboard (/dashboard). Sessions live here, not in a process, so several
-- instances behind a load balancer share them; only the SHA-256 of a session token is kept,
-- so a copy of the database signs nobody in. A session is bound to the management key that
-- opened it (the gateway also refuses it once that key is disabled, deleted or expired).
CREATE TABLE dashboard_sessions (
    token_hash TEXT PRIMARY KEY,
    account TEXT NOT NULL REFERENCES accounts(name),
    key_hash TEXT NOT NULL,
    -- Echoed in every form of the session and compared on every change.
    csrf_token TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL
);
CREATE INDEX dashboard_sessions_expiry ON dashboard_sessions (expires_at_ms);

-- Per-account settings the operator changes from the dashboard. A table of its own rather
-- than `meta` (which describes the database itself): one typed row per account that must
-- exist, so a setting cannot outlive or precede its account.
CREATE TABLE account_settings (
    account TEXT PRIMARY KEY REFERENCES accounts(name),
    -- Below this balance the dashboard warns; NULL: no alert.
    low_balance_nanos BIGINT,
    updated_at_ms BIGINT NOT NULL
);

-- "When did this endpoint last serve?" for each endpoint of each fallback chain: one index
-- probe (MAX over the newest entry) instead of a scan of every generation.
CREATE INDEX generations_endpoint_time ON generations (provider_slug, model, created_at_ms);
