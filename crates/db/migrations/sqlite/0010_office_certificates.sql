-- The certificates this office signs with: every signer certificate found in a signed file the
-- signing workflow stored (the local signer, each official's BSrE certificate). A signature by
-- any other certificate, however valid, does not make a document an office document.
CREATE TABLE office_certificates (
    fingerprint TEXT PRIMARY KEY,
    der BLOB NOT NULL,
    subject TEXT NOT NULL,
    first_document_id BIGINT,
    recorded_at TEXT NOT NULL
);
