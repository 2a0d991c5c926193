package vault

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"time"

	"github.com/trove-project/trove"
)

// NoncesFile is the SQLite database, beside DatabaseFile in the vault's
// home, where the API remembers the signed requests it accepted.
const NoncesFile = "nonces.db"

// Limits of the nonce store.
const (
	// DefaultMaxNonces is how many signed requests the store remembers at
	// most; past it, a new one is turned away until old ones expire.
	DefaultMaxNonces = 1 << 18
	// MaxNonceKeyID bounds the key id of a remembered request (the API's
	// Signature-Input header, which carries it, is itself bounded so).
	MaxNonceKeyID = 2048
	// MaxNonceLen bounds a request's nonce.
	MaxNonceLen = 128
	// MaxNonceLife bounds how long after now a nonce may be remembered, so
	// that no caller can fill the store with rows that never expire.
	MaxNonceLife = time.Hour
)

// NoncesConfig says where a nonce store lives and how big it may grow.
// The zero value of each field but Home means its documented default.
type NoncesConfig struct {
	Home        string        // the vault's home (required); the store is NoncesFile in it
	Max         int           // rows kept at most; default DefaultMaxNonces
	BusyTimeout time.Duration // how long a write waits for the file's lock; default 5s
	SQLDriver   string        // database/sql driver name; default "sqlite3" (tests inject storage failures)
}

// Nonces remembers, across restarts of the server, each signed request
// the API accepted: the SHA-256 of its (key id, nonce), with the time
// after which it may be forgotten. It is its own SQLite file (WAL,
// synchronous=NORMAL), bounded in rows, and prunes expired rows on every
// use.
//
// Why synchronous=NORMAL is enough: a commit is in the WAL, in the
// operating system's cache, before Use returns, so a killed process (a
// crash, SIGKILL, an out-of-memory kill) loses no record. Only a crash of
// the operating system or a power cut can lose the records of the last
// moments. A request replayed after that passes the replay check, but it
// can do no more than its signer could: every request that changes
// something is single-use through what vault.db (synchronous=FULL, so
// fsynced at each commit) keeps — a consent request's id, a job
// challenge's nonce, a claim's answer — so such a replay can only read
// again what its signer was allowed to read. Paying an fsync per signed
// request would buy nothing more.
type Nonces struct {
	db  *sql.DB
	max int
}

// OpenNonces opens, creating it if needed, the nonce store in cfg.Home.
func OpenNonces(ctx context.Context, cfg NoncesConfig) (*Nonces, error) {
	if cfg.Home == "" {
		return nil, trove.Errorf(trove.EINVALID, "no vault home given for the nonce store")
	}
	if cfg.Max <= 0 {
		cfg.Max = DefaultMaxNonces
	}
	if cfg.BusyTimeout == 0 {
		cfg.BusyTimeout = 5 * time.Second
	}
	if cfg.SQLDriver == "" {
		cfg.SQLDriver = "sqlite3"
	}
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "NORMAL")
	q.Set("_busy_timeout", strconv.FormatInt(cfg.BusyTimeout.Milliseconds(), 10))
	q.Set("_txlock", "immediate")
	q.Set("_stmt_cache_size", "16")
	db, err := sql.Open(cfg.SQLDriver, "file:"+filepath.Join(cfg.Home, NoncesFile)+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open the nonce store: %w", err)
	}
	// One connection: requests queue for it in the pool rather than in
	// SQLite's busy handler, which sleeps.
	db.SetMaxOpenConns(1)
	n := &Nonces{db: db, max: cfg.Max}
	if err := n.init(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open the nonce store: %w", err)
	}
	return n, nil
}

// init creates the schema and recounts the rows, so that the count the
// bound is checked against is exact whatever happened before.
func (n *Nonces) init(ctx context.Context) error {
	tx, err := n.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, stmt := range []string{
		// key: SHA-256 of the key id and nonce; forget_at: Unix nanoseconds.
		`CREATE TABLE IF NOT EXISTS nonces (key BLOB PRIMARY KEY, forget_at INTEGER NOT NULL) WITHOUT ROWID`,
		`CREATE INDEX IF NOT EXISTS nonces_forget_at ON nonces (forget_at)`,
		// The row count, kept by triggers in the transaction that changes
		// the rows, so the bound costs no scan.
		`CREATE TABLE IF NOT EXISTS nonce_count (one INTEGER PRIMARY KEY CHECK (one = 1), n INTEGER NOT NULL)`,
		`CREATE TRIGGER IF NOT EXISTS nonces_added AFTER INSERT ON nonces BEGIN UPDATE nonce_count SET n = n + 1; END`,
		`CREATE TRIGGER IF NOT EXISTS nonces_removed AFTER DELETE ON nonces BEGIN UPDATE nonce_count SET n = n - 1; END`,
		`INSERT INTO nonce_count (one, n) VALUES (1, 0) ON CONFLICT DO NOTHING`,
		`UPDATE nonce_count SET n = (SELECT count(*) FROM nonces)`,
	} {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// Close closes the store.
func (n *Nonces) Close() error { return n.db.Close() }

// nonceKey is what the store keeps of a request: the SHA-256 of its key
// id and nonce, each length-prefixed so that no two pairs share a key.
func nonceKey(keyID, nonce string) []byte {
	b := make([]byte, 0, 8+len(keyID)+len(nonce))
	b = binary.BigEndian.AppendUint32(b, uint32(len(keyID)))
	b = append(b, keyID...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(nonce)))
	b = append(b, nonce...)
	sum := sha256.Sum256(b)
	return sum[:]
}

// errNonceStore is what a caller gets when the store cannot record: the
// request must then be refused (fail closed).
func errNonceStore(err error) error {
	return &trove.Error{Code: trove.EUNAVAILABLE, Reason: "nonce_store", Message: "the vault cannot record the signed request now; try again later",
		Err: fmt.Errorf("record a nonce: %w", err)}
}

// Use records that the request signed with keyID and nonce was accepted
// at now, to be remembered until forgetAt, after first forgetting every
// row expired at now. It fails with EUNAUTHORIZED (reason
// "replayed_request") when the pair is already remembered, ETOOMANY
// (reason "nonce_store_full") when the store holds its maximum of
// unexpired rows, EINVALID when keyID or nonce is empty or over its limit
// or forgetAt is not within MaxNonceLife after now, and EUNAVAILABLE
// (reason "nonce_store") when it cannot record. Only a nil error means
// the request was recorded.
func (n *Nonces) Use(ctx context.Context, keyID, nonce string, now, forgetAt time.Time) error {
	switch {
	case keyID == "" || len(keyID) > MaxNonceKeyID:
		return trove.Errorf(trove.EINVALID, "a nonce's key id must be 1 to %d bytes", MaxNonceKeyID)
	case nonce == "" || len(nonce) > MaxNonceLen:
		return trove.Errorf(trove.EINVALID, "a nonce must be 1 to %d bytes", MaxNonceLen)
	case !forgetAt.After(now) || forgetAt.Sub(now) > MaxNonceLife:
		return trove.Errorf(trove.EINVALID, "a nonce is remembered for more than nothing and at most %s", MaxNonceLife)
	}
	tx, err := n.db.BeginTx(ctx, nil)
	if err != nil {
		return errNonceStore(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM nonces WHERE forget_at < ?`, now.UnixNano()); err != nil {
		return errNonceStore(err)
	}
	key := nonceKey(keyID, nonce)
	// One statement records the pair if it is new and the store has room.
	res, err := tx.ExecContext(ctx, `INSERT INTO nonces (key, forget_at) SELECT ?, ? WHERE (SELECT n FROM nonce_count) < ? ON CONFLICT DO NOTHING`,
		key, forgetAt.UnixNano(), n.max)
	if err != nil {
		return errNonceStore(err)
	}
	added, err := res.RowsAffected()
	if err != nil {
		return errNonceStore(err)
	}
	// A refusal still commits the pruning.
	var refusal error
	if added == 0 {
		var known bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM nonces WHERE key = ?)`, key).Scan(&known); err != nil {
			return errNonceStore(err)
		}
		refusal = errReplayed
		if !known {
			refusal = &trove.Error{Code: trove.ETOOMANY, Reason: "nonce_store_full", Message: "too many signed requests in the last minutes; try again shortly"}
		}
	}
	if err := tx.Commit(); err != nil {
		return errNonceStore(err)
	}
	return refusal
}

// errReplayed is the refusal of a signed request already received.
var errReplayed = &trove.Error{Code: trove.EUNAUTHORIZED, Reason: "replayed_request", Message: "this signed request was already received"}
