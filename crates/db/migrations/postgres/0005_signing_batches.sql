-- BSrE signs with each official's own NIK (from their profile).
ALTER TABLE users ADD COLUMN nik TEXT;

-- Durable signing jobs: a batch is one official's request to sign many cases with one
-- passphrase (which is never stored). Its worker holds a lease it keeps renewing; a running
-- batch whose lease ran out lost its worker (crash, kill) and is paused until the official
-- resumes it with the passphrase again.
CREATE TABLE signing_batches (
    id BIGSERIAL PRIMARY KEY,
    official_user_id BIGINT REFERENCES users (id),
    official TEXT NOT NULL,
    -- running | paused | finished
    state TEXT NOT NULL,
    total BIGINT NOT NULL DEFAULT 0,
    note TEXT,
    lease_until TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX signing_batches_state ON signing_batches (state);

CREATE TABLE signing_batch_items (
    id BIGSERIAL PRIMARY KEY,
    batch_id BIGINT NOT NULL REFERENCES signing_batches (id),
    case_id BIGINT NOT NULL REFERENCES signing_cases (id),
    position BIGINT NOT NULL,
    -- queued | signing | signed | failed | attention
    state TEXT NOT NULL,
    error TEXT,
    started_at TIMESTAMPTZ,
    finished_at TIMESTAMPTZ,
    UNIQUE (batch_id, case_id)
);
-- A case is in at most one unfinished job: two batches can never sign it twice.
CREATE UNIQUE INDEX signing_batch_items_open_case ON signing_batch_items (case_id)
    WHERE state IN ('queued', 'signing', 'attention');
CREATE INDEX signing_batch_items_batch ON signing_batch_items (batch_id, state, position);
