-- Maintenance windows made through the admin API (the config file's come from the file), as
-- the request that made them, so a restart keeps them.
CREATE TABLE status_maintenances (
    id TEXT PRIMARY KEY,
    created_at_ms BIGINT NOT NULL,
    doc TEXT NOT NULL
);
