-- Documents (every stored PDF version), the inbox's held files, applicant download links and
-- integrity check results.
CREATE TABLE documents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    pendaftaran_id TEXT NOT NULL REFERENCES permits (pendaftaran_id),
    kind TEXT NOT NULL,
    -- Per permit, across kinds (v1-original, v2-stamped, v3-signed): a new file never reuses one.
    version INTEGER NOT NULL,
    storage_key TEXT NOT NULL UNIQUE,
    -- The same bytes are one document, whoever imports them and however often.
    sha256 TEXT NOT NULL UNIQUE,
    size_bytes INTEGER NOT NULL,
    pages INTEGER NOT NULL,
    content_type TEXT NOT NULL,
    original_name TEXT,
    source TEXT NOT NULL,
    created_by_id INTEGER,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (pendaftaran_id, version)
);

CREATE TABLE inbox_files (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    file_name TEXT NOT NULL,
    -- Relative to the inbox folder, e.g. `unmatched/3-surat.pdf`.
    held_path TEXT NOT NULL UNIQUE,
    size_bytes INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    problem TEXT NOT NULL,
    message TEXT NOT NULL,
    found_at TEXT NOT NULL
);

CREATE TABLE document_links (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    document_id INTEGER NOT NULL REFERENCES documents (id),
    expires_at TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT,
    revoked_by TEXT,
    uses INTEGER NOT NULL DEFAULT 0,
    last_used_at TEXT
);
CREATE INDEX document_links_document ON document_links (document_id);

CREATE TABLE integrity_checks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    documents INTEGER NOT NULL,
    objects INTEGER NOT NULL,
    missing INTEGER NOT NULL,
    mismatched INTEGER NOT NULL,
    orphaned INTEGER NOT NULL,
    -- JSON list of {kind, key, document_id, detail}, at most a few hundred entries.
    problems TEXT NOT NULL,
    error TEXT
);
