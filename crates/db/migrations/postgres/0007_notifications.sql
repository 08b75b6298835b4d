-- WhatsApp notifications: contacts and consent, the durable outbox, templates, renewals.

-- A phone number (E.164) and what its owner agreed to. A number from SICANTIK is not consent:
-- `opted_in_at` is set only by staff (signed form at the counter) or by the owner ("DAFTAR …").
CREATE TABLE wa_contacts (
    phone TEXT PRIMARY KEY NOT NULL,
    name TEXT,
    opted_in_at TIMESTAMPTZ,
    opt_in_source TEXT,
    opted_out_at TIMESTAMPTZ,
    blacklisted BOOLEAN NOT NULL DEFAULT FALSE,
    -- The owner's last message to us: the provider's 24-hour window for free-form replies.
    last_inbound_at TIMESTAMPTZ,
    language TEXT NOT NULL DEFAULT 'id',
    updated_at TIMESTAMPTZ NOT NULL
);

-- Every consent change, for the record: opt_in | opt_out | blacklist | unblacklist.
CREATE TABLE wa_consent_log (
    id BIGSERIAL PRIMARY KEY,
    phone TEXT NOT NULL,
    action TEXT NOT NULL,
    source TEXT NOT NULL,
    actor TEXT,
    at TIMESTAMPTZ NOT NULL
);
CREATE INDEX wa_consent_log_phone ON wa_consent_log (phone);

-- The applicant's number for a permit as staff set or corrected it (it wins over SICANTIK's).
CREATE TABLE permit_contacts (
    pendaftaran_id TEXT PRIMARY KEY NOT NULL,
    phone TEXT NOT NULL,
    source TEXT NOT NULL,
    updated_by TEXT,
    updated_at TIMESTAMPTZ NOT NULL
);

-- Staff and officials have their own number.
ALTER TABLE users ADD COLUMN phone TEXT;

-- The outbox. One row per message and recipient; `dedup_key` (event + recipient) makes the same
-- event never produce two messages to the same number.
CREATE TABLE wa_messages (
    id BIGSERIAL PRIMARY KEY,
    dedup_key TEXT NOT NULL UNIQUE,
    event TEXT NOT NULL,
    subject_id TEXT,
    -- applicant | staff | official
    audience TEXT NOT NULL,
    phone TEXT NOT NULL,
    language TEXT NOT NULL,
    template TEXT NOT NULL,
    parameters TEXT NOT NULL,
    body TEXT NOT NULL,
    -- queued | sending | sent | delivered | read | failed | cancelled | skipped
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    lease_owner TEXT,
    lease_until TIMESTAMPTZ,
    provider TEXT,
    provider_id TEXT,
    failure_kind TEXT,
    failure_code TEXT,
    failure_detail TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    attempted_at TIMESTAMPTZ,
    sent_at TIMESTAMPTZ,
    delivered_at TIMESTAMPTZ,
    read_at TIMESTAMPTZ,
    failed_at TIMESTAMPTZ,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX wa_messages_due ON wa_messages (next_attempt_at) WHERE state = 'queued';
CREATE INDEX wa_messages_sending ON wa_messages (lease_until) WHERE state = 'sending';
CREATE INDEX wa_messages_provider_id ON wa_messages (provider_id);
CREATE INDEX wa_messages_attempted ON wa_messages (attempted_at);
CREATE INDEX wa_messages_created ON wa_messages (created_at);

-- Receipts as they came (idempotent by provider id and status).
CREATE TABLE wa_receipts (
    provider_id TEXT NOT NULL,
    status TEXT NOT NULL,
    at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (provider_id, status)
);

-- Staff's edits of the default texts, per event and language.
CREATE TABLE wa_templates (
    event TEXT NOT NULL,
    language TEXT NOT NULL,
    body TEXT NOT NULL,
    provider_template TEXT,
    updated_by TEXT,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (event, language)
);

-- A renewal is linked to the permit it renews: suggested by holder and type, confirmed by staff.
CREATE TABLE permit_renewals (
    renewal_id TEXT PRIMARY KEY NOT NULL,
    renews_id TEXT NOT NULL,
    -- suggested | confirmed
    state TEXT NOT NULL,
    decided_by TEXT,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX permit_renewals_renews ON permit_renewals (renews_id);

-- How far the notification planner has read the domain events.
CREATE TABLE wa_planner (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    last_event_id BIGINT NOT NULL
);
INSERT INTO wa_planner (id, last_event_id) VALUES (1, 0);
