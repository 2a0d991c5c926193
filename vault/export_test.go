package vault

import "context"

// Pragmas reports the database settings the vault relies on.
func Pragmas(ctx context.Context, v *Vault) (journal string, foreignKeys, synchronous int, err error) {
	if err = v.db.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&journal); err != nil {
		return
	}
	if err = v.db.QueryRowContext(ctx, `PRAGMA foreign_keys`).Scan(&foreignKeys); err != nil {
		return
	}
	err = v.db.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&synchronous)
	return
}

// TamperLogEntry rewrites a stored log entry behind the log's back, as an
// attacker with the database file could.
func TamperLogEntry(ctx context.Context, v *Vault, index uint64) error {
	_, err := v.db.ExecContext(ctx, `UPDATE log_entries SET entry = CAST(entry || ' ' AS BLOB) WHERE idx = ?`, index)
	return err
}

// TamperChunk flips one bit of the first sealed chunk of a dataset.
func TamperChunk(ctx context.Context, v *Vault, name string) error {
	var sealed []byte
	where := ` WHERE dataset_id = (SELECT id FROM datasets WHERE name = ?) AND col = 0 AND seq = 0`
	if err := v.db.QueryRowContext(ctx, `SELECT sealed FROM chunks`+where, name).Scan(&sealed); err != nil {
		return err
	}
	sealed[len(sealed)/2] ^= 1
	_, err := v.db.ExecContext(ctx, `UPDATE chunks SET sealed = ?`+where, sealed, name)
	return err
}

// LoadTable exposes loadTable to tests.
var LoadTable = (*Vault).loadTable

// NoncesPragmas reports the settings of a nonce store's connection.
func NoncesPragmas(ctx context.Context, n *Nonces) (journal string, synchronous int, err error) {
	if err = n.db.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&journal); err != nil {
		return
	}
	err = n.db.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&synchronous)
	return
}
