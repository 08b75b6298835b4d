-- Documents (every stored PDF version), the inbox's held files, applicant download links and
-- integrity check results.
CREATE TABLE documents (
    id BIGSERIAL PRIMARY KEY,
    pendaftaran_id TEXT NOT NULL REFERENCES permits (pendaftaran_id),
    kind TEXT NOT NULL,
    -- Per permit, across kinds (v1-original, v2-stamped, v3-signed): a new file never reuses one.
    version BIGINT NOT NULL,
    storage_key TEXT NOT NULL UNIQUE,
    -- The same bytes are one document, whoever imports them and however often.
    sha256 TEXT NOT NULL UNIQUE,
    size_bytes BIGINT NOT NULL,
    pages BIGINT NOT NULL,
    content_type TEXT NOT NULL,
    original_name TEXT,
    source TEXT NOT NULL,
    created_by_id BIGINT,
    created_by TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    UNIQUE (pendaftaran_id, version)
);

CREATE TABLE inbox_files (
    id BIGSERIAL PRIMARY KEY,
    file_name TEXT NOT NULL,
    -- Relative to the inbox folder, e.g. `unmatched/3-surat.pdf`.
    held_path TEXT NOT NULL UNIQUE,
    size_bytes BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    problem TEXT NOT NULL,
    message TEXT NOT NULL,
    found_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE document_links (
    id BIGSERIAL PRIMARY KEY,
    document_id BIGINT NOT NULL REFERENCES documents (id),
    expires_at TIMESTAMPTZ NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ,
    revoked_by TEXT,
    uses BIGINT NOT NULL DEFAULT 0,
    last_used_at TIMESTAMPTZ
);
CREATE INDEX document_links_document ON document_links (document_id);

CREATE TABLE integrity_checks (
    id BIGSERIAL PRIMARY KEY,
    started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ NOT NULL,
    documents BIGINT NOT NULL,
    objects BIGINT NOT NULL,
    missing BIGINT NOT NULL,
    mismatched BIGINT NOT NULL,
    orphaned BIGINT NOT NULL,
    -- JSON list of {kind, key, document_id, detail}, at most a few hundred entries.
    problems TEXT NOT NULL,
    error TEXT
);
