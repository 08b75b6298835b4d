-- The issue and expiry dates a case's seal states, fixed at approval (JSON of
-- companion_domain::seal::SealDates: from SICANTIK or confirmed by the approving official).
ALTER TABLE signing_cases ADD COLUMN sealed_dates TEXT;
