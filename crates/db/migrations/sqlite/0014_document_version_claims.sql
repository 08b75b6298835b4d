-- A document version number is claimed here before its object is written, so concurrent imports
-- to one permit never pick the same number (and so the same object key): the primary key takes
-- one claim per number, a loser claims the next. A claim is removed when its documents row is
-- written or the import gives up; the next number is one above every row and every claim.
CREATE TABLE document_version_claims (
    pendaftaran_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    claimed_at TEXT NOT NULL,
    PRIMARY KEY (pendaftaran_id, version)
);
