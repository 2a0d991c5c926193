-- Output policies (issue 4). A job records the policy it ran under and
-- whether its result was released, is held for the owner's review, or was
-- withheld. The owner sets, per dataset name, the least policy every job
-- on it gets and the lifetime differential-privacy budget; the accountant
-- adds up what DP jobs spent, in zCDP's ρ.
ALTER TABLE jobs ADD COLUMN policy     TEXT NOT NULL DEFAULT 'release';
ALTER TABLE jobs ADD COLUMN release    TEXT NOT NULL DEFAULT 'released';
ALTER TABLE jobs ADD COLUMN dp_epsilon REAL NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN dp_delta   REAL NOT NULL DEFAULT 0;

CREATE TABLE privacy (
	dataset        TEXT PRIMARY KEY,
	policy         TEXT NOT NULL CHECK (policy IN ('release', 'review', 'dp')),
	job_epsilon    REAL NOT NULL DEFAULT 0,
	job_delta      REAL NOT NULL DEFAULT 0,
	budget_epsilon REAL NOT NULL DEFAULT 0,
	budget_delta   REAL NOT NULL DEFAULT 0,
	spent_rho      REAL NOT NULL DEFAULT 0
);
