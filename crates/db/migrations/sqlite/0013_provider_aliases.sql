-- A second id a provider names one of our messages by in later receipts. Fonnte's first status
-- update of a message carries its `id` and a `stateid`; the later delivered/read updates carry
-- only the `stateid`. One row per provider and alias, kept as long as the message's receipts.
CREATE TABLE wa_provider_aliases (
    provider TEXT NOT NULL,
    alias TEXT NOT NULL,
    provider_id TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    PRIMARY KEY (provider, alias)
);
CREATE INDEX wa_provider_aliases_recorded ON wa_provider_aliases (recorded_at);
