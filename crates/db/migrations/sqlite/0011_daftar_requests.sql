-- "DAFTAR <registration id>" from a number SICANTIK does not hold for that permit (or when staff
-- recorded another number at the counter) is not consent: it waits here until a person confirms
-- or rejects it on /pesan/kontak. One row per permit and number; asking again makes it pending.
CREATE TABLE wa_daftar_requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    pendaftaran_id TEXT NOT NULL,
    phone TEXT NOT NULL,
    -- pending | confirmed | rejected
    state TEXT NOT NULL,
    requested_at TEXT NOT NULL,
    decided_by TEXT,
    decided_at TEXT,
    UNIQUE (pendaftaran_id, phone)
);
CREATE INDEX wa_daftar_requests_state ON wa_daftar_requests (state, requested_at);
