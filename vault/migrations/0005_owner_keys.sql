-- Owner key rotation (issue 3). Every key the owner has had, in order: the
-- vault's first key (seq 0) and each successor with the rotation that made
-- it the owner's: the statement signed by the previous key and co-signed
-- by this one, the index of the did.rotated log entry, and the handover
-- checkpoint (the previous key's last, over the tree ending with that
-- entry). from_size is the first log size whose checkpoint the key signs.
CREATE TABLE owner_keys (
	seq         INTEGER PRIMARY KEY,
	did         TEXT NOT NULL UNIQUE,
	public_key  BLOB,
	from_size   INTEGER NOT NULL,
	statement   TEXT NOT NULL DEFAULT '',
	cosignature TEXT NOT NULL DEFAULT '',
	entry_index INTEGER,
	handover    TEXT NOT NULL DEFAULT '',
	created_at  TEXT NOT NULL
);

-- A vault made before this table has had one key, its owner DID; its
-- public key stays NULL: the did:key says what it is (loadOwner).
INSERT INTO owner_keys (seq, did, from_size, created_at)
	SELECT 0, value, 0, strftime('%Y-%m-%dT%H:%M:%S.000000000Z', 'now') FROM meta WHERE key = 'owner_did';

-- The DID whose key signed each claim: claims made before a rotation stay
-- the retired DID's.
ALTER TABLE claims ADD COLUMN vault TEXT NOT NULL DEFAULT '';
UPDATE claims SET vault = (SELECT value FROM meta WHERE key = 'owner_did');
