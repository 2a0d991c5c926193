CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
);

CREATE TABLE datasets (
	id         INTEGER PRIMARY KEY,
	name       TEXT NOT NULL UNIQUE,
	digest     TEXT NOT NULL,
	rows       INTEGER NOT NULL,
	schema     TEXT NOT NULL,
	chunk_rows INTEGER NOT NULL,
	sealed_key BLOB NOT NULL,
	created_at TEXT NOT NULL
);

-- One sealed chunk of one column. seq -1 holds a categorical column's levels.
CREATE TABLE chunks (
	dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
	col        INTEGER NOT NULL,
	seq        INTEGER NOT NULL,
	sealed     BLOB NOT NULL,
	PRIMARY KEY (dataset_id, col, seq)
);

CREATE TABLE consent_requests (
	id          TEXT PRIMARY KEY,
	requester   TEXT NOT NULL,
	dataset     TEXT NOT NULL,
	algorithm   TEXT NOT NULL,
	purpose     TEXT NOT NULL,
	max_runs    INTEGER NOT NULL,
	amount      INTEGER NOT NULL,
	currency    TEXT NOT NULL,
	expires_at  TEXT NOT NULL,
	token       TEXT NOT NULL,
	state       TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'denied')),
	consent_id  TEXT,
	created_at  TEXT NOT NULL,
	decided_at  TEXT
);

CREATE TABLE consents (
	id             TEXT PRIMARY KEY,
	request_id     TEXT NOT NULL UNIQUE REFERENCES consent_requests(id),
	requester      TEXT NOT NULL,
	dataset        TEXT NOT NULL,
	dataset_digest TEXT NOT NULL,
	algorithm      TEXT NOT NULL,
	max_runs       INTEGER NOT NULL,
	runs_used      INTEGER NOT NULL DEFAULT 0 CHECK (runs_used <= max_runs),
	amount         INTEGER NOT NULL,
	currency       TEXT NOT NULL,
	not_before     TEXT NOT NULL,
	expires_at     TEXT NOT NULL,
	credential     TEXT NOT NULL,
	created_at     TEXT NOT NULL
);

CREATE TABLE nonces (
	nonce      TEXT PRIMARY KEY,
	expires_at TEXT NOT NULL,
	used_at    TEXT
);

CREATE TABLE jobs (
	id            TEXT PRIMARY KEY,
	consent_id    TEXT NOT NULL REFERENCES consents(id),
	requester     TEXT NOT NULL,
	algorithm     TEXT NOT NULL,
	state         TEXT NOT NULL CHECK (state IN ('running', 'succeeded', 'failed')),
	reason        TEXT NOT NULL DEFAULT '',
	output        BLOB,
	output_sha256 TEXT NOT NULL DEFAULT '',
	receipt_id    TEXT,
	receipt       TEXT,
	created_at    TEXT NOT NULL,
	finished_at   TEXT
);

CREATE TABLE log_entries (
	idx       INTEGER PRIMARY KEY,
	leaf_hash BLOB NOT NULL,
	entry     BLOB NOT NULL
);

-- The compact range of the log's tree after its last append (one row).
CREATE TABLE log_state (
	id     INTEGER PRIMARY KEY CHECK (id = 1),
	size   INTEGER NOT NULL,
	hashes TEXT NOT NULL
);

CREATE TABLE checkpoints (
	size INTEGER PRIMARY KEY,
	note BLOB NOT NULL
);

CREATE TABLE claims (
	id         TEXT PRIMARY KEY,
	receipt_id TEXT NOT NULL UNIQUE,
	job_id     TEXT NOT NULL UNIQUE REFERENCES jobs(id),
	consent_id TEXT NOT NULL REFERENCES consents(id),
	requester  TEXT NOT NULL,
	amount     INTEGER NOT NULL CHECK (amount >= 0),
	currency   TEXT NOT NULL,
	state      TEXT NOT NULL,
	created_at TEXT NOT NULL
);

INSERT INTO log_state (id, size, hashes) VALUES (1, 0, '[]');
