-- Foundation: permits and their history, permit types, domain events (outbox), sync runs,
-- the SICANTIK API call log, skipped rows, job leases and a small key/value table.
CREATE TABLE permits (
    pendaftaran_id TEXT PRIMARY KEY NOT NULL,
    status TEXT NOT NULL,
    applicant_name TEXT,
    permit_type_name TEXT,
    permit_number TEXT,
    flags TEXT NOT NULL DEFAULT '{}',
    expiry_date TEXT,
    issue_date TEXT,
    received_date TEXT,
    applicant_address TEXT,
    applicant_phone TEXT,
    company_name TEXT,
    detail_flags TEXT NOT NULL DEFAULT '{}',
    expiry_status TEXT NOT NULL DEFAULT 'unknown',
    expiry_attempts INTEGER NOT NULL DEFAULT 0,
    expiry_checked_at TEXT,
    expiry_next_attempt_at TEXT,
    first_seen_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
-- No index on status: two values, so it would not be used, and every sync write pays for it.
CREATE INDEX permits_type ON permits (permit_type_name);
CREATE INDEX permits_number ON permits (permit_number);
CREATE INDEX permits_expiry ON permits (expiry_date);

CREATE TABLE permit_status_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    -- No foreign key: history is only written with its permit, in one transaction, and a
    -- per-row RI check costs the bulk sync more than the rest of the row together.
    pendaftaran_id TEXT NOT NULL,
    from_status TEXT,
    to_status TEXT NOT NULL,
    changed_at TEXT NOT NULL,
    sync_run_id INTEGER
);
CREATE INDEX permit_status_history_permit ON permit_status_history (pendaftaran_id);

CREATE TABLE permit_types (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    group_name TEXT,
    service_days INTEGER,
    flags TEXT NOT NULL DEFAULT '{}',
    updated_at TEXT NOT NULL
);
CREATE INDEX permit_types_name ON permit_types (name);

CREATE TABLE domain_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at TEXT NOT NULL,
    processed_at TEXT
);
CREATE INDEX domain_events_unprocessed ON domain_events (id) WHERE processed_at IS NULL;

CREATE TABLE sync_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    heartbeat_at TEXT NOT NULL,
    outcome TEXT NOT NULL,
    fetched INTEGER NOT NULL DEFAULT 0,
    inserted INTEGER NOT NULL DEFAULT 0,
    updated INTEGER NOT NULL DEFAULT 0,
    unchanged INTEGER NOT NULL DEFAULT 0,
    skipped_invalid INTEGER NOT NULL DEFAULT 0,
    errors INTEGER NOT NULL DEFAULT 0,
    progress_done INTEGER NOT NULL DEFAULT 0,
    progress_total INTEGER NOT NULL DEFAULT 0,
    message TEXT
);

CREATE TABLE api_calls (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sync_run_id INTEGER,
    endpoint TEXT NOT NULL,
    params TEXT NOT NULL,
    http_status INTEGER,
    duration_ms INTEGER NOT NULL,
    row_count INTEGER,
    error TEXT,
    called_at TEXT NOT NULL
);
CREATE INDEX api_calls_run ON api_calls (sync_run_id);

CREATE TABLE sync_skipped_rows (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sync_run_id INTEGER,
    endpoint TEXT NOT NULL,
    reason TEXT NOT NULL,
    raw TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE job_leases (
    job TEXT PRIMARY KEY NOT NULL,
    holder TEXT NOT NULL,
    acquired_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);

CREATE TABLE kv (
    key TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
