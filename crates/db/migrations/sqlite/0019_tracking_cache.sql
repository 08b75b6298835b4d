-- Public application tracking (/lacak, issue 24): the last good answer SICANTIK's tracking
-- endpoint (permohonan2) gave for a permit, shown with its time when SICANTIK is down or
-- answers junk. Only what the page may show and the check needs: the permit type, the step
-- chain (JSON) and the last four digits of the applicant's phone — no name, address or number.
-- `collected_at`: when a chain first showed the permit collected (the survey invites then).
CREATE TABLE tracking_cache (
    pendaftaran_id TEXT PRIMARY KEY,
    permit_type_name TEXT,
    phone_last4 TEXT,
    steps TEXT NOT NULL,
    fetched_at TEXT NOT NULL,
    collected_at TEXT
);
CREATE INDEX tracking_cache_collected ON tracking_cache (collected_at);
