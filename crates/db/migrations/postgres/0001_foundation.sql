-- Foundation: permits and their history, permit types, domain events (outbox), sync runs,
-- the SICANTIK API call log, skipped rows, job leases and a small key/value table.
-- Identifiers and numbers compare bytewise (COLLATE "C"): they are codes, not words, and a
-- locale-aware comparison costs the bulk sync's index inserts several times more.
CREATE TABLE permits (
    pendaftaran_id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    status TEXT NOT NULL,
    applicant_name TEXT,
    permit_type_name TEXT,
    permit_number TEXT COLLATE "C",
    flags TEXT NOT NULL DEFAULT '{}',
    expiry_date DATE,
    issue_date DATE,
    received_date DATE,
    applicant_address TEXT,
    applicant_phone TEXT,
    company_name TEXT,
    detail_flags TEXT NOT NULL DEFAULT '{}',
    expiry_status TEXT NOT NULL DEFAULT 'unknown',
    expiry_attempts BIGINT NOT NULL DEFAULT 0,
    expiry_checked_at TIMESTAMPTZ,
    expiry_next_attempt_at TIMESTAMPTZ,
    first_seen_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
-- No index on status: two values, so it would not be used, and every sync write pays for it.
CREATE INDEX permits_type ON permits (permit_type_name);
CREATE INDEX permits_number ON permits (permit_number);
CREATE INDEX permits_expiry ON permits (expiry_date);

CREATE TABLE permit_status_history (
    id BIGSERIAL PRIMARY KEY,
    -- No foreign key: history is only written with its permit, in one transaction, and a
    -- per-row RI check costs the bulk sync more than the rest of the row together.
    pendaftaran_id TEXT COLLATE "C" NOT NULL,
    from_status TEXT,
    to_status TEXT NOT NULL,
    changed_at TIMESTAMPTZ NOT NULL,
    sync_run_id BIGINT
);
CREATE INDEX permit_status_history_permit ON permit_status_history (pendaftaran_id);

CREATE TABLE permit_types (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    group_name TEXT,
    service_days BIGINT,
    flags TEXT NOT NULL DEFAULT '{}',
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX permit_types_name ON permit_types (name);

CREATE TABLE domain_events (
    id BIGSERIAL PRIMARY KEY,
    kind TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    processed_at TIMESTAMPTZ
);
CREATE INDEX domain_events_unprocessed ON domain_events (id) WHERE processed_at IS NULL;

CREATE TABLE sync_runs (
    id BIGSERIAL PRIMARY KEY,
    kind TEXT NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    heartbeat_at TIMESTAMPTZ NOT NULL,
    outcome TEXT NOT NULL,
    fetched BIGINT NOT NULL DEFAULT 0,
    inserted BIGINT NOT NULL DEFAULT 0,
    updated BIGINT NOT NULL DEFAULT 0,
    unchanged BIGINT NOT NULL DEFAULT 0,
    skipped_invalid BIGINT NOT NULL DEFAULT 0,
    errors BIGINT NOT NULL DEFAULT 0,
    progress_done BIGINT NOT NULL DEFAULT 0,
    progress_total BIGINT NOT NULL DEFAULT 0,
    message TEXT
);

CREATE TABLE api_calls (
    id BIGSERIAL PRIMARY KEY,
    sync_run_id BIGINT,
    endpoint TEXT NOT NULL,
    params TEXT NOT NULL,
    http_status BIGINT,
    duration_ms BIGINT NOT NULL,
    row_count BIGINT,
    error TEXT,
    called_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX api_calls_run ON api_calls (sync_run_id);

CREATE TABLE sync_skipped_rows (
    id BIGSERIAL PRIMARY KEY,
    sync_run_id BIGINT,
    endpoint TEXT NOT NULL,
    reason TEXT NOT NULL,
    raw TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE job_leases (
    job TEXT PRIMARY KEY NOT NULL,
    holder TEXT NOT NULL,
    acquired_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE kv (
    key TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
