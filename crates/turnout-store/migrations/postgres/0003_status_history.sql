-- Status history (spec/status.md §5.2): the published transitions of each status-page
-- component are the source of truth for uptime bars; live-traffic counts per component and
-- UTC day give the request-based uptime; incidents are kept as their JSON documents.
CREATE TABLE status_transitions (
    component_id TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    old_status TEXT NOT NULL,
    new_status TEXT NOT NULL,
    reason TEXT NOT NULL,
    PRIMARY KEY (component_id, at_ms, new_status)
);

CREATE TABLE status_days (
    component_id TEXT NOT NULL,
    day BIGINT NOT NULL,
    ok BIGINT NOT NULL,
    errors BIGINT NOT NULL,
    rate_limited BIGINT NOT NULL,
    PRIMARY KEY (component_id, day)
);

CREATE TABLE status_incidents (
    id TEXT PRIMARY KEY,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    resolved_at_ms BIGINT,
    doc TEXT NOT NULL
);
CREATE INDEX status_incidents_created ON status_incidents (created_at_ms);
