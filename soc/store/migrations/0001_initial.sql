-- 0001: one table per collection (id, time, version, full-text field, JSON document),
-- a time index on each, FTS5 on the full-text field, and checkpoints.
-- New rows reach the FTS tables in bulk, in the same transaction as the batch that adds them
-- (INSERT … SELECT is many times faster than a trigger per row); deletes and updates use triggers.
-- Documents are flat JSON objects keyed by dotted ECS names; `text` holds the collection's
-- full-text field (events: message), which is kept out of `doc` to store it once.

CREATE TABLE events (
    rowid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    ts INTEGER NOT NULL,
    version INTEGER NOT NULL DEFAULT 1,
    text TEXT,
    doc TEXT NOT NULL,
    -- Copies of the single-valued fields operators filter on most, for indexes that need no
    -- JSON parsing on insert (expression indexes on json_extract cost a third of ingest speed).
    event_dataset TEXT,
    host_name TEXT,
    source_ip TEXT,
    destination_ip TEXT,
    user_name TEXT,
    organization_id TEXT
);
CREATE INDEX events_ts ON events(ts);
CREATE VIRTUAL TABLE events_fts USING fts5(
    text, content='events', content_rowid='rowid', tokenize='unicode61 remove_diacritics 2'
);
CREATE TRIGGER events_fts_delete AFTER DELETE ON events WHEN old.text IS NOT NULL BEGIN
    INSERT INTO events_fts(events_fts, rowid, text) VALUES ('delete', old.rowid, old.text);
END;
CREATE TRIGGER events_fts_update AFTER UPDATE OF text ON events BEGIN
    INSERT INTO events_fts(events_fts, rowid, text)
        SELECT 'delete', old.rowid, old.text WHERE old.text IS NOT NULL;
    INSERT INTO events_fts(rowid, text) SELECT new.rowid, new.text WHERE new.text IS NOT NULL;
END;

CREATE TABLE dead_letters (
    rowid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    ts INTEGER NOT NULL,
    version INTEGER NOT NULL DEFAULT 1,
    text TEXT,
    doc TEXT NOT NULL
);
CREATE INDEX dead_letters_ts ON dead_letters(ts);
CREATE VIRTUAL TABLE dead_letters_fts USING fts5(
    text, content='dead_letters', content_rowid='rowid', tokenize='unicode61 remove_diacritics 2'
);
CREATE TRIGGER dead_letters_fts_delete AFTER DELETE ON dead_letters WHEN old.text IS NOT NULL BEGIN
    INSERT INTO dead_letters_fts(dead_letters_fts, rowid, text) VALUES ('delete', old.rowid, old.text);
END;
CREATE TRIGGER dead_letters_fts_update AFTER UPDATE OF text ON dead_letters BEGIN
    INSERT INTO dead_letters_fts(dead_letters_fts, rowid, text)
        SELECT 'delete', old.rowid, old.text WHERE old.text IS NOT NULL;
    INSERT INTO dead_letters_fts(rowid, text) SELECT new.rowid, new.text WHERE new.text IS NOT NULL;
END;

CREATE TABLE alerts (
    rowid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    ts INTEGER NOT NULL,
    version INTEGER NOT NULL DEFAULT 1,
    text TEXT,
    doc TEXT NOT NULL
);
CREATE INDEX alerts_ts ON alerts(ts);
CREATE VIRTUAL TABLE alerts_fts USING fts5(
    text, content='alerts', content_rowid='rowid', tokenize='unicode61 remove_diacritics 2'
);
CREATE TRIGGER alerts_fts_delete AFTER DELETE ON alerts WHEN old.text IS NOT NULL BEGIN
    INSERT INTO alerts_fts(alerts_fts, rowid, text) VALUES ('delete', old.rowid, old.text);
END;
CREATE TRIGGER alerts_fts_update AFTER UPDATE OF text ON alerts BEGIN
    INSERT INTO alerts_fts(alerts_fts, rowid, text)
        SELECT 'delete', old.rowid, old.text WHERE old.text IS NOT NULL;
    INSERT INTO alerts_fts(rowid, text) SELECT new.rowid, new.text WHERE new.text IS NOT NULL;
END;

CREATE TABLE incidents (
    rowid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    ts INTEGER NOT NULL,
    version INTEGER NOT NULL DEFAULT 1,
    text TEXT,
    doc TEXT NOT NULL
);
CREATE INDEX incidents_ts ON incidents(ts);
CREATE VIRTUAL TABLE incidents_fts USING fts5(
    text, content='incidents', content_rowid='rowid', tokenize='unicode61 remove_diacritics 2'
);
CREATE TRIGGER incidents_fts_delete AFTER DELETE ON incidents WHEN old.text IS NOT NULL BEGIN
    INSERT INTO incidents_fts(incidents_fts, rowid, text) VALUES ('delete', old.rowid, old.text);
END;
CREATE TRIGGER incidents_fts_update AFTER UPDATE OF text ON incidents BEGIN
    INSERT INTO incidents_fts(incidents_fts, rowid, text)
        SELECT 'delete', old.rowid, old.text WHERE old.text IS NOT NULL;
    INSERT INTO incidents_fts(rowid, text) SELECT new.rowid, new.text WHERE new.text IS NOT NULL;
END;

CREATE TABLE comments (
    rowid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    ts INTEGER NOT NULL,
    version INTEGER NOT NULL DEFAULT 1,
    text TEXT,
    doc TEXT NOT NULL
);
CREATE INDEX comments_ts ON comments(ts);
CREATE VIRTUAL TABLE comments_fts USING fts5(
    text, content='comments', content_rowid='rowid', tokenize='unicode61 remove_diacritics 2'
);
CREATE TRIGGER comments_fts_delete AFTER DELETE ON comments WHEN old.text IS NOT NULL BEGIN
    INSERT INTO comments_fts(comments_fts, rowid, text) VALUES ('delete', old.rowid, old.text);
END;
CREATE TRIGGER comments_fts_update AFTER UPDATE OF text ON comments BEGIN
    INSERT INTO comments_fts(comments_fts, rowid, text)
        SELECT 'delete', old.rowid, old.text WHERE old.text IS NOT NULL;
    INSERT INTO comments_fts(rowid, text) SELECT new.rowid, new.text WHERE new.text IS NOT NULL;
END;

CREATE TABLE audit (
    rowid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    ts INTEGER NOT NULL,
    version INTEGER NOT NULL DEFAULT 1,
    text TEXT,
    doc TEXT NOT NULL
);
CREATE INDEX audit_ts ON audit(ts);

CREATE TABLE api_keys (
    rowid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    ts INTEGER NOT NULL,
    version INTEGER NOT NULL DEFAULT 1,
    text TEXT,
    doc TEXT NOT NULL
);
CREATE INDEX api_keys_ts ON api_keys(ts);

CREATE TABLE scan_results (
    rowid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    ts INTEGER NOT NULL,
    version INTEGER NOT NULL DEFAULT 1,
    text TEXT,
    doc TEXT NOT NULL
);
CREATE INDEX scan_results_ts ON scan_results(ts);

-- Partial indexes: an event without the field costs nothing; `field = ?` implies NOT NULL.
CREATE INDEX events_event_dataset ON events(event_dataset, ts) WHERE event_dataset IS NOT NULL;
CREATE INDEX events_host_name ON events(host_name, ts) WHERE host_name IS NOT NULL;
CREATE INDEX events_source_ip ON events(source_ip, ts) WHERE source_ip IS NOT NULL;
CREATE INDEX events_destination_ip ON events(destination_ip, ts) WHERE destination_ip IS NOT NULL;
CREATE INDEX events_user_name ON events(user_name, ts) WHERE user_name IS NOT NULL;
CREATE INDEX events_organization_id ON events(organization_id, ts) WHERE organization_id IS NOT NULL;

-- The audit log is append-only.
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;

CREATE TABLE checkpoints (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated INTEGER NOT NULL
);
