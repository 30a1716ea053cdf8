-- Facts about this database itself: `ledger_id` names it (e.g. its namespace in Redis, so
-- instances sharing the ledger share state however their URLs are spelled).
CREATE TABLE meta (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
