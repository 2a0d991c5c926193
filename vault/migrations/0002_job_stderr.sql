-- What a job's module wrote on stderr, up to the sandbox's cap (64 KiB by
-- default): for the owner only.
ALTER TABLE jobs ADD COLUMN stderr BLOB;
