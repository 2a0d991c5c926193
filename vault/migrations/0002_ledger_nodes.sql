-- The interior nodes of the log's Merkle tree (level >= 1; the leaves,
-- level 0, are log_entries.leaf_hash): the hash of every perfect subtree
-- completed so far, so that a proof reads O(log n) rows, not O(n) leaves.
CREATE TABLE log_nodes (
	level INTEGER NOT NULL CHECK (level >= 1),
	idx   INTEGER NOT NULL,
	hash  BLOB NOT NULL,
	PRIMARY KEY (level, idx)
) WITHOUT ROWID;
