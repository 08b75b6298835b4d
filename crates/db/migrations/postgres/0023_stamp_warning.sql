-- Set when the QR stamp found no free place on the page and covers the letter's content: shown
-- to the official before signing (companion_pdf::placement::Spot::Covering).
ALTER TABLE signing_cases ADD COLUMN stamp_warning TEXT;
