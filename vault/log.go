package vault

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/trove-project/trove"
	"github.com/trove-project/trove/ledger"
)

// unavailable marks a storage failure: the vault fails closed.
func unavailable(err error) error {
	return &trove.Error{Code: trove.EUNAVAILABLE, Reason: "storage", Message: "the vault cannot write its log or database right now", Err: err}
}

// appended says where a batch of entries landed in the log.
type appended struct {
	First      uint64 // index of the first entry
	Size       uint64 // tree size after the batch
	Root       []byte
	LeafHashes [][]byte
}

// appendLog appends entries to the log inside tx: it reads the tree state,
// stores each entry with its leaf hash and interior nodes, and saves the
// new state. Nothing is visible until tx commits. It signs no checkpoint:
// the writer signs one per batch, for the size the batch ends at (see
// sealLog); a caller that needs the checkpoint of its own append (to hand
// out with a receipt) calls checkpointFor.
func (v *Vault) appendLog(ctx context.Context, tx *sql.Tx, entries ...ledger.Entry) (*appended, error) {
	tree, err := logTree(ctx, tx)
	if err != nil {
		return nil, err
	}
	out := &appended{First: tree.Size()}
	for _, e := range entries {
		b, err := e.Marshal()
		if err != nil {
			return nil, fmt.Errorf("log entry %s: %w", e.Type, err)
		}
		lh := ledger.LeafHash(b)
		var nodeErr error
		idx, err := tree.AppendVisit(lh, func(level uint, index uint64, hash []byte) {
			if level == 0 || nodeErr != nil {
				return // leaves are stored below, with their entries
			}
			_, nodeErr = tx.ExecContext(ctx, `INSERT INTO log_nodes (level, idx, hash) VALUES (?, ?, ?)`, level, index, hash)
		})
		if err != nil {
			return nil, err
		}
		if nodeErr != nil {
			return nil, unavailable(fmt.Errorf("store log node: %w", nodeErr))
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO log_entries (idx, leaf_hash, entry) VALUES (?, ?, ?)`, idx, lh, b); err != nil {
			return nil, unavailable(fmt.Errorf("append log entry: %w", err))
		}
		out.LeafHashes = append(out.LeafHashes, lh)
	}
	out.Size = tree.Size()
	if out.Root, err = tree.Root(); err != nil {
		return nil, err
	}
	newHashes, err := json.Marshal(tree.Hashes())
	if err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE log_state SET size = ?, hashes = ? WHERE id = 1`, out.Size, string(newHashes)); err != nil {
		return nil, unavailable(fmt.Errorf("save log state: %w", err))
	}
	return out, nil
}

// logTree reads, inside tx, the log's tree as its last append left it.
func logTree(ctx context.Context, tx *sql.Tx) (*ledger.Tree, error) {
	var size uint64
	var hashesJSON string
	if err := tx.QueryRowContext(ctx, `SELECT size, hashes FROM log_state WHERE id = 1`).Scan(&size, &hashesJSON); err != nil {
		return nil, unavailable(fmt.Errorf("read log state: %w", err))
	}
	var hashes [][]byte
	if err := json.Unmarshal([]byte(hashesJSON), &hashes); err != nil {
		return nil, fmt.Errorf("read log state: %w", err)
	}
	tree, err := ledger.RestoreTree(size, hashes)
	if err != nil {
		return nil, fmt.Errorf("restore log tree: %w", err)
	}
	return tree, nil
}

// checkpointFor signs and stores, inside tx, the checkpoint of the tree
// right after append a, and returns it.
func (v *Vault) checkpointFor(ctx context.Context, tx *sql.Tx, a *appended) ([]byte, error) {
	key := v.signer()
	note, err := ledger.SignCheckpoint(key, ledger.Checkpoint{Origin: key.DID(), Size: a.Size, Root: a.Root})
	if err != nil {
		return nil, fmt.Errorf("sign checkpoint: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO checkpoints (size, note) VALUES (?, ?)`, a.Size, note); err != nil {
		return nil, unavailable(fmt.Errorf("save checkpoint: %w", err))
	}
	return note, nil
}

// sealLog signs and stores, inside tx, the checkpoint of the log as tx
// leaves it, unless one exists: the writer calls it once per batch,
// before committing, so that every committed state of the log has its
// signed checkpoint. It first checks that this process's key is still the
// owner's (checkOwner): a batch signed by a retired key never commits.
func (v *Vault) sealLog(ctx context.Context, tx *sql.Tx) error {
	if err := v.checkOwner(ctx, tx); err != nil {
		return err
	}
	tree, err := logTree(ctx, tx)
	if err != nil {
		return err
	}
	size := tree.Size()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM checkpoints WHERE size = ?`, size).Scan(&n); err != nil {
		return fmt.Errorf("read checkpoints: %w", err)
	}
	if n > 0 || size == 0 {
		return nil
	}
	root, err := tree.Root()
	if err != nil {
		return err
	}
	_, err = v.checkpointFor(ctx, tx, &appended{Size: size, Root: root})
	return err
}

// logOnly appends entries in a transaction of their own: for events, such
// as a refused job, that change nothing else.
func (v *Vault) logOnly(ctx context.Context, entries ...ledger.Entry) error {
	return v.write(ctx, func(tx *sql.Tx) error {
		_, err := v.appendLog(ctx, tx, entries...)
		return err
	})
}

// queryer is what both *sql.DB and *sql.Tx offer for reads.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// leafReader serves leaf hashes to the ledger's proof builders, from the
// database or from inside a transaction that has just appended.
type leafReader struct{ q queryer }

// NodeHash returns the stored hash of the perfect subtree at (level,
// index): a leaf hash at level 0, an interior node above. Logs written
// before interior nodes were stored lack them; the proof builder then
// hashes the leaves.
func (r leafReader) NodeHash(ctx context.Context, level uint, index uint64) ([]byte, bool, error) {
	var h []byte
	var err error
	if level == 0 {
		err = r.q.QueryRowContext(ctx, `SELECT leaf_hash FROM log_entries WHERE idx = ?`, index).Scan(&h)
	} else {
		err = r.q.QueryRowContext(ctx, `SELECT hash FROM log_nodes WHERE level = ? AND idx = ?`, level, index).Scan(&h)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	} else if err != nil {
		return nil, false, err
	}
	return h, true, nil
}

// LeafHashes returns the leaf hashes of entries [start, end).
func (r leafReader) LeafHashes(ctx context.Context, start, end uint64) ([][]byte, error) {
	rows, err := r.q.QueryContext(ctx, `SELECT leaf_hash FROM log_entries WHERE idx >= ? AND idx < ? ORDER BY idx`, start, end)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make([][]byte, 0, end-start)
	for rows.Next() {
		var h []byte
		if err := rows.Scan(&h); err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if uint64(len(out)) != end-start {
		return nil, fmt.Errorf("log holds %d of the leaves %d..%d", len(out), start, end)
	}
	return out, nil
}

// Checkpoint returns the latest signed checkpoint of the log.
func (v *Vault) Checkpoint(ctx context.Context) ([]byte, error) {
	var note []byte
	err := v.db.QueryRowContext(ctx, `SELECT note FROM checkpoints ORDER BY size DESC LIMIT 1`).Scan(&note)
	if errors.Is(err, sql.ErrNoRows) {
		// An empty log still has a checkpoint: size 0 and the empty root.
		root, err := ledger.NewTree().Root()
		if err != nil {
			return nil, err
		}
		key := v.signer()
		return ledger.SignCheckpoint(key, ledger.Checkpoint{Origin: key.DID(), Size: 0, Root: root})
	} else if err != nil {
		return nil, fmt.Errorf("read checkpoint: %w", err)
	}
	return note, nil
}

// LogSize returns the number of entries in the log.
func (v *Vault) LogSize(ctx context.Context) (uint64, error) {
	var size uint64
	err := v.db.QueryRowContext(ctx, `SELECT size FROM log_state WHERE id = 1`).Scan(&size)
	return size, err
}

// InclusionProof proves that entry index is in the tree of the given size.
func (v *Vault) InclusionProof(ctx context.Context, index, size uint64) ([][]byte, error) {
	cur, err := v.LogSize(ctx)
	if err != nil {
		return nil, err
	}
	if size == 0 || size > cur || index >= size {
		return nil, trove.Errorf(trove.EINVALID, "need index < size <= %d", cur)
	}
	return ledger.InclusionProof(ctx, leafReader{v.db}, index, size)
}

// ConsistencyProof proves that the tree of size from is a prefix of the
// tree of size to.
func (v *Vault) ConsistencyProof(ctx context.Context, from, to uint64) ([][]byte, error) {
	cur, err := v.LogSize(ctx)
	if err != nil {
		return nil, err
	}
	if from == 0 || from > to || to > cur {
		return nil, trove.Errorf(trove.EINVALID, "need 0 < from <= to <= %d", cur)
	}
	return ledger.ConsistencyProof(ctx, leafReader{v.db}, from, to)
}

// LogEntry returns the entry at index and its bytes as logged.
func (v *Vault) LogEntry(ctx context.Context, index uint64) ([]byte, error) {
	var b []byte
	err := v.db.QueryRowContext(ctx, `SELECT entry FROM log_entries WHERE idx = ?`, index).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, trove.Errorf(trove.ENOTFOUND, "no log entry %d", index)
	}
	return b, err
}

// VerifyLog recomputes the tree from every stored entry and checks that
// each stored checkpoint signs the root of its size (by the owner key of
// its time: the key history says which), that every stored interior node
// matches, that the stored tree state matches, and that every key
// rotation is a verified link (verifyRotations). It returns the number of
// entries checked.
func (v *Vault) VerifyLog(ctx context.Context) (uint64, error) {
	rows, err := v.db.QueryContext(ctx, `SELECT idx, leaf_hash, entry FROM log_entries ORDER BY idx`)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	roots := map[uint64][]byte{}
	tree := ledger.NewTree()
	for rows.Next() {
		var idx uint64
		var lh, entry []byte
		if err := rows.Scan(&idx, &lh, &entry); err != nil {
			return 0, err
		}
		if idx != tree.Size() {
			return 0, fmt.Errorf("log entry %d missing", tree.Size())
		}
		if string(ledger.LeafHash(entry)) != string(lh) {
			return 0, fmt.Errorf("log entry %d does not match its leaf hash", idx)
		}
		var nodeErr error
		if _, err := tree.AppendVisit(lh, func(level uint, index uint64, hash []byte) {
			if level == 0 || nodeErr != nil {
				return
			}
			stored, ok, err := leafReader{v.db}.NodeHash(ctx, level, index)
			switch {
			case err != nil:
				nodeErr = err
			case ok && string(stored) != string(hash):
				nodeErr = fmt.Errorf("stored log node %d/%d does not match the recomputed tree", level, index)
			}
		}); err != nil {
			return 0, err
		}
		if nodeErr != nil {
			return 0, nodeErr
		}
		root, err := tree.Root()
		if err != nil {
			return 0, err
		}
		roots[tree.Size()] = root
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	o, err := loadOwner(ctx, v.db, v.signer())
	if err != nil {
		return 0, err
	}
	cps, err := v.db.QueryContext(ctx, `SELECT size, note FROM checkpoints ORDER BY size`)
	if err != nil {
		return 0, err
	}
	defer cps.Close()
	for cps.Next() {
		var size uint64
		var note []byte
		if err := cps.Scan(&size, &note); err != nil {
			return 0, err
		}
		cp, err := ledger.OpenCheckpoint(note, o.signerAt(size))
		if err != nil {
			return 0, fmt.Errorf("checkpoint %d: %w", size, err)
		}
		if cp.Size != size || string(cp.Root) != string(roots[size]) {
			return 0, fmt.Errorf("checkpoint %d does not match the recomputed tree", size)
		}
	}
	if err := cps.Err(); err != nil {
		return 0, err
	}
	stored, err := v.LogSize(ctx)
	if err != nil {
		return 0, err
	}
	if stored != tree.Size() {
		return 0, fmt.Errorf("log state says %d entries, the log holds %d", stored, tree.Size())
	}
	if err := v.verifyRotations(ctx, roots); err != nil {
		return 0, err
	}
	return tree.Size(), nil
}

// EntryProof returns the entry at index with its inclusion proof in the
// tree of the latest checkpoint, which it carries: verifiable offline
// with ledger.VerifyEntryProof and the vault's DID.
func (v *Vault) EntryProof(ctx context.Context, index uint64) (*ledger.EntryProof, error) {
	note, err := v.Checkpoint(ctx)
	if err != nil {
		return nil, err
	}
	cp, err := ledger.OpenCheckpoint(note, v.DID())
	if err != nil {
		return nil, fmt.Errorf("entry proof: own checkpoint: %w", err)
	}
	if index >= cp.Size {
		return nil, trove.Errorf(trove.ENOTFOUND, "no log entry %d: the log holds %d", index, cp.Size)
	}
	entry, err := v.LogEntry(ctx, index)
	if err != nil {
		return nil, err
	}
	proof, err := ledger.InclusionProof(ctx, leafReader{v.db}, index, cp.Size)
	if err != nil {
		return nil, fmt.Errorf("entry proof: %w", err)
	}
	return &ledger.EntryProof{Index: index, Entry: entry, Checkpoint: string(note), InclusionProof: proof}, nil
}
