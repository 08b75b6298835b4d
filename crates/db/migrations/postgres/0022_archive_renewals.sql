-- Long-term validity (issue 20): each published case's PAdES level, when its archive timestamp
-- is next renewed (or why renewal stopped: a companion_domain::archive::Stop key), and the last
-- renewal's failure, shown until a renewal succeeds.
ALTER TABLE signing_cases ADD COLUMN signature_level TEXT;
ALTER TABLE signing_cases ADD COLUMN archive_due_at TIMESTAMPTZ;
ALTER TABLE signing_cases ADD COLUMN archive_stopped TEXT;
ALTER TABLE signing_cases ADD COLUMN archive_error TEXT;
CREATE INDEX signing_cases_archive_due ON signing_cases (state, archive_due_at);

-- One row per renewal: the signed file it extended and the new version that replaced it as the
-- case's signed file. Never updated. A file is renewed at most once (UNIQUE), so a run that
-- resumes after a crash cannot renew the same version twice, and a copy of an earlier version
-- is still recognised as this office's issued letter.
CREATE TABLE archive_renewals (
    id BIGSERIAL PRIMARY KEY,
    case_id BIGINT NOT NULL REFERENCES signing_cases (id),
    from_document_id BIGINT NOT NULL UNIQUE REFERENCES documents (id),
    to_document_id BIGINT NOT NULL UNIQUE REFERENCES documents (id),
    renewed_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX archive_renewals_case ON archive_renewals (case_id);
