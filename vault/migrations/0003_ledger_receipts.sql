-- What a receipt records of a job's parameters: the sha256 hex of them as
-- received, compacted, recorded when the job is accepted.
ALTER TABLE jobs ADD COLUMN params_sha256 TEXT NOT NULL DEFAULT '';
