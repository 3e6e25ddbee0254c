-- 0002: source.ip and destination.ip are looked up through an FTS5 index of one token per
-- address instead of B-tree indexes. Addresses arrive in random order, and a random insert into
-- a B-tree dirties a page per row: at a million events those two indexes were a third of ingest
-- time and grew with the table. FTS5 writes sorted segments and merges them later (an LSM), so
-- its cost per row stays flat.
--
-- A token is the field's letter and the canonical address with '.' → 'x' and ':' → 'y'
-- (s10x45x1x10, d2001ydb8yy1): one token per address, equal tokens only for equal addresses.
-- soc/store/sqlite_query.py `address_token` builds the same tokens for queries; a test holds the
-- two together.

DROP INDEX events_source_ip;
DROP INDEX events_destination_ip;

CREATE VIRTUAL TABLE events_terms USING fts5(
    terms, content='', columnsize=0, detail=none, tokenize='ascii'
);

CREATE VIEW events_terms_source AS
SELECT rowid, trim(
    coalesce('s' || replace(replace(source_ip, '.', 'x'), ':', 'y'), '') || ' ' ||
    coalesce('d' || replace(replace(destination_ip, '.', 'x'), ':', 'y'), '')) AS terms
FROM events;

INSERT INTO events_terms (rowid, terms)
    SELECT rowid, terms FROM events_terms_source WHERE terms != '';
