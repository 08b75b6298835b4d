-- Survei Kepuasan Masyarakat (PermenPANRB 14/2017, docs/skm.md). One invitation per permit,
-- sent once after publication; its token is stored only as SHA-256. `answered` is all the
-- invitation keeps of the answer: the answer itself is anonymous (no permit, token, phone or
-- time of day; only the day, the permit type and the optional profile).
CREATE TABLE survey_invitations (
    id BIGSERIAL PRIMARY KEY,
    pendaftaran_id TEXT NOT NULL UNIQUE,
    token_hash TEXT NOT NULL UNIQUE,
    permit_type_name TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    answered BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX survey_invitations_created ON survey_invitations (created_at);

CREATE TABLE survey_responses (
    id BIGSERIAL PRIMARY KEY,
    answered_on DATE NOT NULL,
    permit_type_name TEXT,
    u1 INTEGER NOT NULL CHECK (u1 BETWEEN 1 AND 4),
    u2 INTEGER NOT NULL CHECK (u2 BETWEEN 1 AND 4),
    u3 INTEGER NOT NULL CHECK (u3 BETWEEN 1 AND 4),
    u4 INTEGER NOT NULL CHECK (u4 BETWEEN 1 AND 4),
    u5 INTEGER NOT NULL CHECK (u5 BETWEEN 1 AND 4),
    u6 INTEGER NOT NULL CHECK (u6 BETWEEN 1 AND 4),
    u7 INTEGER NOT NULL CHECK (u7 BETWEEN 1 AND 4),
    u8 INTEGER NOT NULL CHECK (u8 BETWEEN 1 AND 4),
    u9 INTEGER NOT NULL CHECK (u9 BETWEEN 1 AND 4),
    comment TEXT,
    age_band TEXT,
    sex TEXT,
    education TEXT,
    occupation TEXT
);
CREATE INDEX survey_responses_day ON survey_responses (answered_on);
