-- Every public check (QR, code, upload) and its result; identical checks within one second are
-- one row with their number in `checks` (a busy portal writes a row per second, not per visit). The client's address is kept only
-- for a configurable number of days (then cleared); coarse region and device class stay.
CREATE TABLE verification_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    -- qr | code | upload
    method TEXT NOT NULL,
    -- asli | dicabut | kedaluwarsa | tidak_dikenal | tidak_asli | tidak_dapat_dipastikan
    result TEXT NOT NULL,
    reason TEXT,
    verification_id TEXT,
    client_ip TEXT,
    device TEXT NOT NULL,
    region TEXT,
    checks INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX verification_log_at ON verification_log (at);

-- The exact text of the QR stamped on the document (its portal address with the seal).
ALTER TABLE signing_cases ADD COLUMN qr_text TEXT;
