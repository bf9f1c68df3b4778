-- Read-side index of a burrow store. scripts/reindex.sh rebuilds it from
-- the log so the status page can answer queries without scanning the log.

CREATE TABLE IF NOT EXISTS records (
    key        TEXT    NOT NULL,
    value      TEXT    NOT NULL,
    log_offset INTEGER NOT NULL,
    node       TEXT    NOT NULL DEFAULT 'local',
    PRIMARY KEY (key, log_offset)
);

-- TODO: index records by node once the daemon says which peer sent them
--   the status page groups by node, and that is a full scan today
--   #sync #performance

CREATE VIEW IF NOT EXISTS latest AS
    SELECT key, value, MAX(log_offset) AS log_offset
    FROM records
    GROUP BY key;  -- FIXME[sqlite-bare-max]: only SQLite takes value from the MAX row

-- Shown by the status page while the index is still empty.
INSERT OR IGNORE INTO records (key, value, log_offset)
VALUES ('burrow/welcome', 'no records yet -- TODO: put something here', -1);
