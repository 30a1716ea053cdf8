-- Accounts hold credits; keys belong to an account. Money is in nanodollars (1e-9 USD) so
-- sums are exact integers on both backends. Times are Unix milliseconds.
CREATE TABLE accounts (
    name TEXT PRIMARY KEY,
    created_at_ms BIGINT NOT NULL
);

CREATE TABLE api_keys (
    hash TEXT PRIMARY KEY,
    account TEXT NOT NULL REFERENCES accounts(name),
    name TEXT NOT NULL,
    label TEXT NOT NULL,
    is_management BIGINT NOT NULL DEFAULT 0,
    disabled BIGINT NOT NULL DEFAULT 0,
    limit_nanos BIGINT,
    limit_reset TEXT,
    expires_at_ms BIGINT,
    allowed_models TEXT,
    rpm BIGINT,
    tpm BIGINT,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT,
    -- Bumped by every change (including deletion) so other processes can follow.
    changed_at_ms BIGINT NOT NULL,
    deleted_at_ms BIGINT
);
CREATE INDEX api_keys_changed ON api_keys (changed_at_ms);
CREATE INDEX api_keys_account ON api_keys (account);

-- Append-only money in: credits (kind 'credit'). Money out is the generations table: each
-- served request's row is its charge, written once (its id is the key), so an account's
-- balance is credits − Σ generations.cost_nanos, with nothing to keep in step.
CREATE TABLE ledger (
    seq BIGSERIAL PRIMARY KEY,
    account TEXT NOT NULL,
    kind TEXT NOT NULL,
    amount_nanos BIGINT NOT NULL,
    note TEXT,
    created_at_ms BIGINT NOT NULL
);
-- Running instances poll for new credits.
CREATE INDEX ledger_credits ON ledger (created_at_ms) WHERE kind = 'credit';

CREATE TABLE generations (
    id TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    key_hash TEXT,
    created_at_ms BIGINT NOT NULL,
    model TEXT NOT NULL,
    provider_name TEXT NOT NULL,
    provider_slug TEXT NOT NULL,
    upstream_model TEXT NOT NULL,
    upstream_id TEXT,
    streamed BIGINT NOT NULL,
    cancelled BIGINT NOT NULL,
    finish_reason TEXT,
    native_finish_reason TEXT,
    tokens_prompt BIGINT NOT NULL,
    tokens_completion BIGINT NOT NULL,
    tokens_cached BIGINT NOT NULL,
    tokens_reasoning BIGINT NOT NULL,
    cost_nanos BIGINT NOT NULL,
    latency_ms BIGINT,
    generation_time_ms BIGINT,
    session_id TEXT,
    http_referer TEXT,
    app_title TEXT,
    user_agent TEXT,
    attempts TEXT NOT NULL
);
-- Per-account listings and activity. Sums per account and key are read only at start, by
-- one scan, so they get no index of their own.
CREATE INDEX generations_account_time ON generations (account, created_at_ms);
