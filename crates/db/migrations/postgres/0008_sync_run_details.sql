-- What a run learned beyond its counts (list coverage, failed offsets, completeness), as JSON.
ALTER TABLE sync_runs ADD COLUMN details TEXT;

-- "Newest first" orders by the permit's own dates (see PermitSort::Newest), not by the time the
-- companion first saw it; the index carries the same expressions.
DROP INDEX IF EXISTS permits_newest;
CREATE INDEX permits_newest_own_dates ON permits (
    (COALESCE(
        CAST(EXTRACT(YEAR FROM issue_date) * 10000 + EXTRACT(MONTH FROM issue_date) * 100 + EXTRACT(DAY FROM issue_date) AS INTEGER),
        CAST(EXTRACT(YEAR FROM received_date) * 10000 + EXTRACT(MONTH FROM received_date) * 100 + EXTRACT(DAY FROM received_date) AS INTEGER),
        CAST(substr(pendaftaran_id, length(pendaftaran_id) - 3, 4) AS INTEGER) * 10000 +
        CAST(substr(pendaftaran_id, length(pendaftaran_id) - 5, 2) AS INTEGER) * 100)) DESC,
    (substr(pendaftaran_id, 1, 5)) DESC,
    pendaftaran_id DESC
);
