-- What a run learned beyond its counts (list coverage, failed offsets, completeness), as JSON.
ALTER TABLE sync_runs ADD COLUMN details TEXT;
