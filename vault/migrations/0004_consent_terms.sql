-- The complete terms of a consent (issue 3): allowed columns (a JSON array;
-- in a request, [] means all), purpose code, output policy (JSON), pricing
-- unit; and for issued consents their revocation state.
ALTER TABLE consent_requests ADD COLUMN columns      TEXT NOT NULL DEFAULT '[]';
ALTER TABLE consent_requests ADD COLUMN purpose_code TEXT NOT NULL DEFAULT 'other';
ALTER TABLE consent_requests ADD COLUMN output       TEXT NOT NULL DEFAULT '{"policy":"release"}';
ALTER TABLE consent_requests ADD COLUMN per          TEXT NOT NULL DEFAULT 'run';

ALTER TABLE consents ADD COLUMN columns      TEXT NOT NULL DEFAULT '[]';
ALTER TABLE consents ADD COLUMN purpose      TEXT NOT NULL DEFAULT '';
ALTER TABLE consents ADD COLUMN purpose_code TEXT NOT NULL DEFAULT 'other';
ALTER TABLE consents ADD COLUMN output       TEXT NOT NULL DEFAULT '{"policy":"release"}';
ALTER TABLE consents ADD COLUMN per          TEXT NOT NULL DEFAULT 'run';

-- Each consent's bit in a Bitstring Status List, and when it was revoked.
ALTER TABLE consents ADD COLUMN status_list  TEXT NOT NULL DEFAULT '';
ALTER TABLE consents ADD COLUMN status_index INTEGER NOT NULL DEFAULT -1;
ALTER TABLE consents ADD COLUMN revoked_at   TEXT;
CREATE UNIQUE INDEX consents_status ON consents (status_list, status_index) WHERE status_index >= 0;

-- Standing rules: every rule set the owner has made active, newest last.
CREATE TABLE policies (
	id         INTEGER PRIMARY KEY,
	hash       TEXT NOT NULL,
	body       TEXT NOT NULL,
	created_at TEXT NOT NULL
);

-- Who decided a request: "owner", or "rule:<id>" for a standing rule.
ALTER TABLE consent_requests ADD COLUMN decided_by TEXT NOT NULL DEFAULT '';

-- Counter-offers: the owner's narrower terms for a request, signed, and the
-- requester's signed answer.
CREATE TABLE counter_offers (
	id         TEXT PRIMARY KEY,
	request_id TEXT NOT NULL REFERENCES consent_requests(id),
	token      TEXT NOT NULL,
	terms      TEXT NOT NULL,
	expires_at TEXT NOT NULL,
	state      TEXT NOT NULL CHECK (state IN ('open', 'accepted', 'declined')),
	reply      TEXT,
	created_at TEXT NOT NULL,
	decided_at TEXT
);
CREATE UNIQUE INDEX counter_offers_open ON counter_offers (request_id) WHERE state = 'open';
