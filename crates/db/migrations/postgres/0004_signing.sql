-- The signing workflow: one case per imported original, walking the states of
-- companion_domain::workflow. The stamped and signed files are document versions.
CREATE TABLE signing_cases (
    id BIGSERIAL PRIMARY KEY,
    pendaftaran_id TEXT NOT NULL REFERENCES permits (pendaftaran_id),
    original_document_id BIGINT NOT NULL UNIQUE REFERENCES documents (id),
    stamped_document_id BIGINT REFERENCES documents (id),
    signed_document_id BIGINT REFERENCES documents (id),
    state TEXT NOT NULL,
    -- The id in the QR's portal address (/v/<id>): random, not guessable from other cases.
    verification_id TEXT NOT NULL UNIQUE,
    submitted_by TEXT,
    submitted_at TIMESTAMPTZ,
    decided_by TEXT,
    decided_at TIMESTAMPTZ,
    reason TEXT,
    signer_name TEXT,
    signed_at TIMESTAMPTZ,
    timestamped BOOLEAN NOT NULL DEFAULT FALSE,
    signing_error TEXT,
    revoked_by TEXT,
    revoked_at TIMESTAMPTZ,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX signing_cases_state ON signing_cases (state);
CREATE INDEX signing_cases_permit ON signing_cases (pendaftaran_id);
