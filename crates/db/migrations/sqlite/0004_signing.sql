-- The signing workflow: one case per imported original, walking the states of
-- companion_domain::workflow. The stamped and signed files are document versions.
CREATE TABLE signing_cases (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    pendaftaran_id TEXT NOT NULL REFERENCES permits (pendaftaran_id),
    original_document_id INTEGER NOT NULL UNIQUE REFERENCES documents (id),
    stamped_document_id INTEGER REFERENCES documents (id),
    signed_document_id INTEGER REFERENCES documents (id),
    state TEXT NOT NULL,
    -- The id in the QR's portal address (/v/<id>): random, not guessable from other cases.
    verification_id TEXT NOT NULL UNIQUE,
    submitted_by TEXT,
    submitted_at TEXT,
    decided_by TEXT,
    decided_at TEXT,
    reason TEXT,
    signer_name TEXT,
    signed_at TEXT,
    timestamped INTEGER NOT NULL DEFAULT 0,
    signing_error TEXT,
    revoked_by TEXT,
    revoked_at TEXT,
    updated_at TEXT NOT NULL
);
CREATE INDEX signing_cases_state ON signing_cases (state);
CREATE INDEX signing_cases_permit ON signing_cases (pendaftaran_id);
