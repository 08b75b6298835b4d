-- Certificates this office's own CAs revoked (`keys revoke`): the CRLs and the OCSP responder
-- that the product serves read them, and the local signer refuses to sign with a revoked
-- certificate. A row is never updated or deleted: a revocation is final.
CREATE TABLE certificate_revocations (
    -- SHA-1 of the issuing CA's subjectPublicKey (hex), the key OCSP requests name.
    issuer_key_id TEXT NOT NULL,
    -- The certificate's serial number (hex of the INTEGER's content bytes).
    serial TEXT NOT NULL,
    subject TEXT NOT NULL,
    -- RFC 5280 CRLReason code.
    reason INTEGER NOT NULL,
    revoked_at TEXT NOT NULL,
    revoked_by TEXT NOT NULL,
    PRIMARY KEY (issuer_key_id, serial)
);
