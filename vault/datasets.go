package vault

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"time"

	"github.com/trove-project/trove"
	"github.com/trove-project/trove/dataset"
	"github.com/trove-project/trove/ledger"
)

// Dataset describes a stored dataset. Its values stay in encrypted chunks.
type Dataset struct {
	Name      string          `json:"name"`
	Digest    string          `json:"digest"`
	Rows      int             `json:"rows"`
	Schema    []dataset.Field `json:"schema"`
	CreatedAt time.Time       `json:"created_at"`
}

// ImportOptions tune an import.
type ImportOptions struct {
	Types    map[string]dataset.Kind // column kinds that override inference
	Progress func(bytesRead int64)   // called as the file is read
}

var datasetName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// ValidDatasetName reports whether name may name a dataset: 1 to 64
// letters, digits, '_', '.' or '-', starting with a letter or digit.
func ValidDatasetName(name string) bool { return datasetName.MatchString(name) }

// chunkHeader is the first leaf of a dataset's digest: it binds the schema
// and the chunking to the digest, so that renaming or retyping a column
// changes it.
type chunkHeader struct {
	Rows      int             `json:"rows"`
	ChunkRows int             `json:"chunk_rows"`
	Columns   []dataset.Field `json:"columns"`
}

// sealedChunk is one chunk's place and plaintext before sealing.
type sealedChunk struct {
	col, seq int
	plain    []byte
}

// Import reads a CSV file into a new dataset called name. The file is
// parsed completely first; then its chunks, the dataset and the log entry
// recording the import are written in one transaction, so a bad file or a
// failure leaves nothing behind.
func (v *Vault) Import(ctx context.Context, name string, r io.Reader, opts ImportOptions) (*Dataset, error) {
	if err := v.checkNewName(ctx, name); err != nil {
		return nil, err
	}
	t, err := dataset.ReadCSV(r, dataset.ReadOptions{Types: opts.Types, MaxBytes: v.cfg.MaxImportBytes, Progress: opts.Progress})
	if err != nil {
		code, reason := trove.EINVALID, "bad_csv"
		var limit *dataset.LimitError
		if errors.As(err, &limit) {
			code, reason = trove.ETOOLARGE, "too_large"
		}
		return nil, &trove.Error{Code: code, Reason: reason, Message: fmt.Sprintf("import %s: %v", name, err)}
	}
	return v.storeTable(ctx, name, t)
}

// checkNewName checks that name may name a new dataset.
func (v *Vault) checkNewName(ctx context.Context, name string) error {
	if !ValidDatasetName(name) {
		return trove.Errorf(trove.EINVALID, "dataset name %q: use 1 to 64 letters, digits, '_', '.' or '-'", name)
	}
	var exists int
	if err := v.db.QueryRowContext(ctx, `SELECT count(*) FROM datasets WHERE name = ?`, name).Scan(&exists); err != nil {
		return fmt.Errorf("import %s: %w", name, err)
	}
	if exists > 0 {
		return trove.Errorf(trove.ECONFLICT, "a dataset called %q exists; remove it first", name)
	}
	return nil
}

// ImportTable stores an already parsed table as a new dataset called name,
// like Import: for tables built in memory (a simulation dealing one file to
// many vaults).
func (v *Vault) ImportTable(ctx context.Context, name string, t *dataset.Table) (*Dataset, error) {
	if err := v.checkNewName(ctx, name); err != nil {
		return nil, err
	}
	if err := t.Validate(); err != nil {
		return nil, trove.Errorf(trove.EINVALID, "import %s: %v", name, err)
	}
	return v.storeTable(ctx, name, t)
}

func (v *Vault) storeTable(ctx context.Context, name string, t *dataset.Table) (*Dataset, error) {
	chunks, digest, err := chunkTable(t, v.cfg.ChunkRows)
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", name, err)
	}
	dataKey := make([]byte, 32)
	if _, err := io.ReadFull(v.cfg.Rand, dataKey); err != nil {
		return nil, fmt.Errorf("import %s: %w", name, err)
	}
	aead, err := newChunkAEAD(dataKey)
	if err != nil {
		return nil, err
	}
	schema, err := json.Marshal(t.Schema())
	if err != nil {
		return nil, err
	}
	now := v.now()
	err = v.write(ctx, func(tx *sql.Tx) error {
		// Sealed here, on the writer, under the owner key of this batch: a
		// key rotation commits between batches and seals anew only what it
		// finds.
		sealedKey, err := v.signer().SealSecret(dataKey, datasetKeyLabel(name, digest))
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO datasets (name, digest, rows, schema, chunk_rows, sealed_key, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			name, digest, t.Rows, string(schema), v.cfg.ChunkRows, sealedKey, formatTime(now))
		if err != nil {
			return err
		}
		id, err := res.LastInsertId()
		if err != nil {
			return err
		}
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO chunks (dataset_id, col, seq, sealed) VALUES (?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		nonce := make([]byte, aead.NonceSize())
		for _, c := range chunks {
			if _, err := io.ReadFull(v.cfg.Rand, nonce); err != nil {
				return err
			}
			sealed := aead.Seal(append([]byte(nil), nonce...), nonce, c.plain, chunkAAD(name, digest, c.col, c.seq))
			if _, err := stmt.ExecContext(ctx, id, c.col, c.seq, sealed); err != nil {
				return err
			}
		}
		_, err = v.appendLog(ctx, tx, ledger.Entry{
			Type:    ledger.DatasetImported,
			Time:    now,
			Subject: v.DID(),
			Fields:  map[string]string{"dataset": name, "digest": digest, "columns": fmt.Sprint(len(t.Columns))},
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", name, err)
	}
	return &Dataset{Name: name, Digest: digest, Rows: t.Rows, Schema: t.Schema(), CreatedAt: now}, nil
}

// chunkTable cuts each column into chunks of chunkRows values in
// little-endian binary (categorical columns first get a chunk holding their
// levels as JSON) and returns them with the dataset digest: the RFC 6962
// Merkle root over the header leaf and every chunk's plaintext, in order.
func chunkTable(t *dataset.Table, chunkRows int) ([]sealedChunk, string, error) {
	header, err := json.Marshal(chunkHeader{Rows: t.Rows, ChunkRows: chunkRows, Columns: t.Schema()})
	if err != nil {
		return nil, "", err
	}
	tree := ledger.NewTree()
	if _, err := tree.Append(ledger.LeafHash(header)); err != nil {
		return nil, "", err
	}
	var chunks []sealedChunk
	add := func(col, seq int, plain []byte) error {
		chunks = append(chunks, sealedChunk{col: col, seq: seq, plain: plain})
		_, err := tree.Append(ledger.LeafHash(plain))
		return err
	}
	for ci := range t.Columns {
		c := &t.Columns[ci]
		if c.Kind == dataset.Categorical {
			levels, err := json.Marshal(c.Levels)
			if err != nil {
				return nil, "", err
			}
			if err := add(ci, -1, levels); err != nil {
				return nil, "", err
			}
		}
		for seq, lo := 0, 0; lo < t.Rows; seq, lo = seq+1, lo+chunkRows {
			hi := min(lo+chunkRows, t.Rows)
			if err := add(ci, seq, encodeValues(c, lo, hi)); err != nil {
				return nil, "", err
			}
		}
	}
	root, err := tree.Root()
	if err != nil {
		return nil, "", err
	}
	return chunks, hex.EncodeToString(root), nil
}

// encodeValues returns rows [lo, hi) of c as little-endian bytes.
func encodeValues(c *dataset.Column, lo, hi int) []byte {
	switch c.Kind {
	case dataset.Float:
		b := make([]byte, 0, 8*(hi-lo))
		for _, f := range c.Floats[lo:hi] {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(f))
		}
		return b
	case dataset.Integer, dataset.Timestamp:
		b := make([]byte, 0, 8*(hi-lo))
		for _, n := range c.Ints[lo:hi] {
			b = binary.LittleEndian.AppendUint64(b, uint64(n))
		}
		return b
	default:
		b := make([]byte, 0, 4*(hi-lo))
		for _, n := range c.Codes[lo:hi] {
			b = binary.LittleEndian.AppendUint32(b, n)
		}
		return b
	}
}

// decodeValues appends the values in plain to c.
func decodeValues(c *dataset.Column, plain []byte) error {
	switch c.Kind {
	case dataset.Float:
		if len(plain)%8 != 0 {
			return errors.New("float chunk length not a multiple of 8")
		}
		for i := 0; i < len(plain); i += 8 {
			c.Floats = append(c.Floats, math.Float64frombits(binary.LittleEndian.Uint64(plain[i:])))
		}
	case dataset.Integer, dataset.Timestamp:
		if len(plain)%8 != 0 {
			return errors.New("integer chunk length not a multiple of 8")
		}
		for i := 0; i < len(plain); i += 8 {
			c.Ints = append(c.Ints, int64(binary.LittleEndian.Uint64(plain[i:])))
		}
	case dataset.Categorical:
		if len(plain)%4 != 0 {
			return errors.New("categorical chunk length not a multiple of 4")
		}
		for i := 0; i < len(plain); i += 4 {
			c.Codes = append(c.Codes, binary.LittleEndian.Uint32(plain[i:]))
		}
	default:
		return fmt.Errorf("unknown column kind %q", c.Kind)
	}
	return nil
}

func newChunkAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func datasetKeyLabel(name, digest string) string { return "trove dataset key " + name + " " + digest }

// chunkAAD binds a sealed chunk to its dataset and place, so chunks cannot
// be swapped between datasets or positions without failing to open.
func chunkAAD(name, digest string, col, seq int) []byte {
	return fmt.Appendf(nil, "%s/%s/%d/%d", name, digest, col, seq)
}

// Datasets lists the stored datasets by name.
func (v *Vault) Datasets(ctx context.Context) ([]Dataset, error) {
	rows, err := v.db.QueryContext(ctx, `SELECT name, digest, rows, schema, created_at FROM datasets ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list datasets: %w", err)
	}
	defer rows.Close()
	var out []Dataset
	for rows.Next() {
		d, err := scanDataset(rows)
		if err != nil {
			return nil, fmt.Errorf("list datasets: %w", err)
		}
		out = append(out, *d)
	}
	return out, rows.Err()
}

// Dataset returns the dataset called name.
func (v *Vault) Dataset(ctx context.Context, name string) (*Dataset, error) {
	d, err := scanDataset(v.db.QueryRowContext(ctx, `SELECT name, digest, rows, schema, created_at FROM datasets WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, trove.Errorf(trove.ENOTFOUND, "no dataset called %q", name)
	} else if err != nil {
		return nil, fmt.Errorf("dataset %s: %w", name, err)
	}
	return d, nil
}

type scanner interface{ Scan(...any) error }

func scanDataset(s scanner) (*Dataset, error) {
	var d Dataset
	var schema, created string
	if err := s.Scan(&d.Name, &d.Digest, &d.Rows, &schema, &created); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(schema), &d.Schema); err != nil {
		return nil, fmt.Errorf("stored schema: %w", err)
	}
	var err error
	d.CreatedAt, err = parseTime(created)
	return &d, err
}

// loadTable decrypts the dataset called name, checks that its chunks still
// hash to digest, and returns its table.
func (v *Vault) loadTable(ctx context.Context, name, digest string) (*dataset.Table, error) {
	var (
		id        int64
		rowsN     int
		chunkRows int
		schemaS   string
		stored    string
		sealedKey []byte
	)
	// The sealed dataset key is read and opened under the key-swap lock,
	// so a rotation (which seals it anew and swaps the owner key) cannot
	// commit between the two.
	v.keySwap.RLock()
	err := v.db.QueryRowContext(ctx, `SELECT id, rows, chunk_rows, schema, digest, sealed_key FROM datasets WHERE name = ?`, name).
		Scan(&id, &rowsN, &chunkRows, &schemaS, &stored, &sealedKey)
	var dataKey []byte
	if err == nil && stored == digest {
		dataKey, err = v.signer().OpenSecret(sealedKey, datasetKeyLabel(name, digest))
		if err != nil {
			err = fmt.Errorf("dataset key: %w", err)
		}
	}
	v.keySwap.RUnlock()
	if errors.Is(err, sql.ErrNoRows) {
		return nil, trove.Errorf(trove.ENOTFOUND, "no dataset called %q", name)
	} else if err != nil {
		return nil, fmt.Errorf("load %s: %w", name, err)
	}
	if stored != digest {
		return nil, &trove.Error{Code: trove.EFORBIDDEN, Reason: "dataset_changed", Message: "the dataset was re-imported since the consent was given"}
	}
	var schema []dataset.Field
	if err := json.Unmarshal([]byte(schemaS), &schema); err != nil {
		return nil, fmt.Errorf("load %s: stored schema: %w", name, err)
	}
	aead, err := newChunkAEAD(dataKey)
	if err != nil {
		return nil, err
	}
	t := &dataset.Table{Rows: rowsN, Columns: make([]dataset.Column, len(schema))}
	for i, f := range schema {
		t.Columns[i] = dataset.Column{Name: f.Name, Kind: f.Kind}
	}
	rows, err := v.db.QueryContext(ctx, `SELECT col, seq, sealed FROM chunks WHERE dataset_id = ? ORDER BY col, seq`, id)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", name, err)
	}
	defer rows.Close()
	var plains [][]byte
	for rows.Next() {
		var col, seq int
		var sealed []byte
		if err := rows.Scan(&col, &seq, &sealed); err != nil {
			return nil, fmt.Errorf("load %s: %w", name, err)
		}
		if col < 0 || col >= len(t.Columns) || len(sealed) < aead.NonceSize() {
			return nil, fmt.Errorf("load %s: chunk %d/%d out of place", name, col, seq)
		}
		n := aead.NonceSize()
		plain, err := aead.Open(nil, sealed[:n], sealed[n:], chunkAAD(name, digest, col, seq))
		if err != nil {
			return nil, fmt.Errorf("load %s: chunk %d/%d does not authenticate", name, col, seq)
		}
		c := &t.Columns[col]
		if seq == -1 {
			if err := json.Unmarshal(plain, &c.Levels); err != nil {
				return nil, fmt.Errorf("load %s: levels of column %d: %w", name, col, err)
			}
		} else if err := decodeValues(c, plain); err != nil {
			return nil, fmt.Errorf("load %s: chunk %d/%d: %w", name, col, seq, err)
		}
		plains = append(plains, plain)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load %s: %w", name, err)
	}
	if err := t.Validate(); err != nil {
		return nil, fmt.Errorf("load %s: %w", name, err)
	}
	if got, err := digestOf(t, chunkRows, plains); err != nil || got != digest {
		return nil, fmt.Errorf("load %s: stored chunks do not match the dataset digest", name)
	}
	return t, nil
}

// digestOf recomputes a dataset digest from its decrypted chunks.
func digestOf(t *dataset.Table, chunkRows int, plains [][]byte) (string, error) {
	header, err := json.Marshal(chunkHeader{Rows: t.Rows, ChunkRows: chunkRows, Columns: t.Schema()})
	if err != nil {
		return "", err
	}
	tree := ledger.NewTree()
	if _, err := tree.Append(ledger.LeafHash(header)); err != nil {
		return "", err
	}
	for _, p := range plains {
		if _, err := tree.Append(ledger.LeafHash(p)); err != nil {
			return "", err
		}
	}
	root, err := tree.Root()
	return hex.EncodeToString(root), err
}

// RemoveDataset deletes a dataset and its chunks, and logs it.
func (v *Vault) RemoveDataset(ctx context.Context, name string) error {
	return v.write(ctx, func(tx *sql.Tx) error {
		var digest string
		err := tx.QueryRowContext(ctx, `SELECT digest FROM datasets WHERE name = ?`, name).Scan(&digest)
		if errors.Is(err, sql.ErrNoRows) {
			return trove.Errorf(trove.ENOTFOUND, "no dataset called %q", name)
		} else if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM datasets WHERE name = ?`, name); err != nil {
			return err
		}
		_, err = v.appendLog(ctx, tx, ledger.Entry{
			Type: ledger.DatasetDeleted, Time: v.now(), Subject: v.DID(),
			Fields: map[string]string{"dataset": name, "digest": digest},
		})
		return err
	})
}
