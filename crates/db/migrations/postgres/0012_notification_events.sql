-- Issue 25: a renewal link that is not obviously one (older, another holder or type) is kept only
-- with the reason of the person who confirmed it.
ALTER TABLE permit_renewals ADD COLUMN reason TEXT;
-- "Permit ready" on import looks for a permit's message by its subject.
CREATE INDEX wa_messages_subject ON wa_messages (subject_id, event);
