package vault

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trove-project/trove"
	"github.com/trove-project/trove/compute"
	"github.com/trove-project/trove/consent"
	"github.com/trove-project/trove/did"
	"github.com/trove-project/trove/internal/safefile"
)

// DefaultPublicURL is where a vault's public API is taken to be when its
// configuration does not say.
const DefaultPublicURL = "http://localhost:8470"

// File names inside a vault's home directory.
const (
	DatabaseFile = "vault.db"
	KeyFile      = "owner.key"
)

// Config says where a vault lives and how it behaves. The zero value of
// each field means its documented default.
type Config struct {
	Home           string         // directory holding the database and the sealed key (required)
	WorkFactor     int            // scrypt log2 N for sealing the owner key; default did.DefaultWorkFactor
	BusyTimeout    time.Duration  // how long a write waits for the database lock; default 5s
	ChunkRows      int            // rows per encrypted chunk; default 65,536
	MaxImportBytes int64          // largest CSV accepted; default 256 MiB
	ChallengeTTL   time.Duration  // how long a job challenge nonce stays usable; default 5 minutes
	PublicURL      string         // the public API's base URL, named in credentials' status entries; default http://localhost:8470
	StatusTTL      time.Duration  // how long a signed status list is valid; default 5 minutes
	WebHost        string         // the vault's domain (host[:port]), when it has one: it then serves a did:web document
	Compute        compute.Config // sandbox limits; default compute.DefaultConfig()
	Now            func() time.Time
	Rand           io.Reader
	Logger         *slog.Logger
	WriteQueue     int           // writes waiting for the writer before ETOOMANY; default 1,024
	MaxBatch       int           // writes committed together at most; default 256
	SQLDriver      string        // database/sql driver name; default "sqlite3" (tests register a go-sqlite3 driver with hooks to inject storage failures)
	KeyLockWait    time.Duration // how long opening waits for a key rotation in another process; default 30s
}

func (c Config) withDefaults() Config {
	if c.WorkFactor == 0 {
		c.WorkFactor = did.DefaultWorkFactor
	}
	if c.BusyTimeout == 0 {
		c.BusyTimeout = 5 * time.Second
	}
	if c.ChunkRows == 0 {
		c.ChunkRows = 1 << 16
	}
	if c.MaxImportBytes == 0 {
		c.MaxImportBytes = 256 << 20
	}
	if c.ChallengeTTL == 0 {
		c.ChallengeTTL = 5 * time.Minute
	}
	if c.PublicURL == "" {
		c.PublicURL = DefaultPublicURL
	}
	if c.StatusTTL == 0 {
		c.StatusTTL = 5 * time.Minute
	}
	if c.Compute == (compute.Config{}) {
		c.Compute = compute.DefaultConfig()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Rand == nil {
		c.Rand = rand.Reader
	}
	if c.WriteQueue == 0 {
		c.WriteQueue = 1024
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = 256
	}
	if c.SQLDriver == "" {
		c.SQLDriver = "sqlite3"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.KeyLockWait == 0 {
		c.KeyLockWait = DefaultKeyLockWait
	}
	return c
}

// Vault is an opened vault: its database and its unsealed owner key.
type Vault struct {
	cfg Config
	db  *sql.DB
	// owner is the owner key and the DIDs it had; a rotation replaces it
	// whole.
	owner atomic.Pointer[owner]
	// keySwap is held for writing while a rotation commits and swaps the
	// owner key, for reading while a dataset key is read and opened.
	keySwap sync.RWMutex
	// verifier remembers the credentials it has verified, so that a job
	// presenting a known credential pays for the presentation only.
	verifier *consent.Verifier

	queue   *compute.Queue // bounds the jobs that run or wait at once
	commits *committer     // the writer goroutine: every write goes through it

	sandboxOnce sync.Once
	sandbox     *compute.Sandbox
	sandboxErr  error
}

// newVault assembles an opened vault whose owner key is key, with the
// key history its database keeps. It closes db if it fails.
func newVault(ctx context.Context, cfg Config, db *sql.DB, key *did.Key) (*Vault, error) {
	o, err := loadOwner(ctx, db, key)
	if err != nil {
		db.Close()
		return nil, err
	}
	q, err := compute.NewQueue(cfg.Compute.MaxRunningJobs, cfg.Compute.MaxWaitingJobs)
	if err != nil {
		db.Close()
		return nil, err
	}
	v := &Vault{cfg: cfg, db: db, queue: q, verifier: consent.NewVerifier(nil, 0)}
	v.owner.Store(o)
	v.startCommitter()
	return v, nil
}

// Exists reports whether home already holds a vault.
func Exists(home string) bool {
	for _, f := range []string{DatabaseFile, KeyFile} {
		if _, err := os.Stat(filepath.Join(home, f)); err == nil {
			return true
		}
	}
	return false
}

// Create makes a new vault in cfg.Home: an owner key published as a
// did:key, sealed under passphrase, and an empty database. It refuses to
// touch a home that already holds a vault.
func Create(ctx context.Context, cfg Config, passphrase []byte) (*Vault, error) {
	cfg = cfg.withDefaults()
	if cfg.Home == "" {
		return nil, trove.Errorf(trove.EINVALID, "no vault home given")
	}
	if Exists(cfg.Home) {
		return nil, trove.Errorf(trove.ECONFLICT, "a vault already exists in %s; refusing to overwrite it", cfg.Home)
	}
	if len(passphrase) == 0 {
		return nil, trove.Errorf(trove.EINVALID, "the passphrase is empty")
	}
	if err := os.MkdirAll(cfg.Home, 0o700); err != nil {
		return nil, fmt.Errorf("create vault home: %w", err)
	}
	unlock, err := lockKey(ctx, cfg.Home, cfg.KeyLockWait)
	if err != nil {
		return nil, err
	}
	defer unlock()
	key, err := did.Generate(cfg.Rand)
	if err != nil {
		return nil, err
	}
	sealed, err := did.Seal(key, passphrase, cfg.WorkFactor)
	if err != nil {
		return nil, err
	}
	if err := safefile.Write(filepath.Join(cfg.Home, KeyFile), sealed, 0o600); err != nil {
		return nil, fmt.Errorf("write owner key: %w", err)
	}
	db, err := openDB(ctx, cfg.SQLDriver, filepath.Join(cfg.Home, DatabaseFile), cfg.BusyTimeout)
	if err != nil {
		return nil, err
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES ('owner_did', ?)`, key.DID()); err != nil {
		db.Close()
		return nil, fmt.Errorf("record owner DID: %w", err)
	}
	if err := recordFirstKey(ctx, db, key, formatTime(cfg.Now())); err != nil {
		db.Close()
		return nil, err
	}
	return newVault(ctx, cfg, db, key)
}

// Open opens the vault in cfg.Home, unsealing its owner key with
// passphrase. It holds the key lock while it reads the key (waiting up to
// Config.KeyLockWait for a rotation in another process, then failing with
// EUNAVAILABLE, reason key_locked), and settles what an interrupted
// rotation left: it removes a cut key write's temporary files, and
// finishes a rotation the database committed or undoes one it did not.
func Open(ctx context.Context, cfg Config, passphrase []byte) (*Vault, error) {
	cfg = cfg.withDefaults()
	// Checked before the lock, whose file would otherwise be made in a
	// directory that holds no vault.
	if _, err := os.Stat(filepath.Join(cfg.Home, KeyFile)); errors.Is(err, os.ErrNotExist) {
		return nil, trove.Errorf(trove.ENOTFOUND, "no vault in %s (run `trove init` first)", cfg.Home)
	}
	unlock, err := lockKey(ctx, cfg.Home, cfg.KeyLockWait)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := removeKeyTemporaries(cfg.Home); err != nil {
		return nil, err
	}
	sealed, err := os.ReadFile(filepath.Join(cfg.Home, KeyFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, trove.Errorf(trove.ENOTFOUND, "no vault in %s (run `trove init` first)", cfg.Home)
	} else if err != nil {
		return nil, fmt.Errorf("read owner key: %w", err)
	}
	key, err := did.Unseal(sealed, passphrase)
	if errors.Is(err, did.ErrWrongPassphrase) {
		return nil, &trove.Error{Code: trove.EUNAUTHORIZED, Reason: "wrong_passphrase", Message: "the passphrase does not open this vault's key"}
	} else if err != nil {
		return nil, err
	}
	db, err := openDB(ctx, cfg.SQLDriver, filepath.Join(cfg.Home, DatabaseFile), cfg.BusyTimeout)
	if err != nil {
		return nil, err
	}
	var ownerDID string
	if err := db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'owner_did'`).Scan(&ownerDID); err != nil {
		db.Close()
		return nil, fmt.Errorf("read owner DID: %w", err)
	}
	if key, err = settleNextKey(cfg.Home, ownerDID, key, passphrase); err != nil {
		db.Close()
		return nil, err
	}
	if ownerDID != key.DID() {
		db.Close()
		return nil, fmt.Errorf("open vault: the database belongs to %s, the key to %s", ownerDID, key.DID())
	}
	return newVault(ctx, cfg, db, key)
}

// Close finishes the queued writes and releases the database and the
// sandbox.
func (v *Vault) Close() error {
	v.stopCommitter()
	var errs []error
	if v.sandbox != nil {
		errs = append(errs, v.sandbox.Close(context.Background()))
	}
	errs = append(errs, v.db.Close())
	return errors.Join(errs...)
}

// DID returns the owner's DID, which is the vault's identity.
func (v *Vault) DID() string { return v.signer().DID() }

// DIDDocument returns the vault's did:web DID document, for
// GET /.well-known/did.json: its identifier stays the same across key
// rotations; every key the owner has had is an assertion key (the current
// one first, so what earlier keys signed still verifies), only the
// current one authenticates, and alsoKnownAs lists the owner's did:keys,
// current first. A vault without a WebHost has none (ENOTFOUND).
func (v *Vault) DIDDocument(context.Context) ([]byte, error) {
	if v.cfg.WebHost == "" {
		return nil, trove.Errorf(trove.ENOTFOUND, "this vault has no domain, so no did:web document")
	}
	id, err := did.WebDID(v.cfg.WebHost)
	if err != nil {
		return nil, &trove.Error{Code: trove.EINTERNAL, Message: "the configured web host is not usable", Err: err}
	}
	o := v.owner.Load()
	return did.OwnerDocument(id, o.pubs, o.dids...)
}

// Home returns the directory the vault lives in.
func (v *Vault) Home() string { return v.cfg.Home }

func (v *Vault) now() time.Time { return v.cfg.Now().UTC() }

// compute returns the sandbox, created on first use: commands that never
// run a job do not pay for a WebAssembly runtime.
func (v *Vault) compute(ctx context.Context) (*compute.Sandbox, error) {
	v.sandboxOnce.Do(func() {
		v.sandbox, v.sandboxErr = compute.NewSandbox(ctx, v.cfg.Compute)
	})
	return v.sandbox, v.sandboxErr
}

// newID returns a random identifier with the given prefix: 128 bits, so
// that ids are unguessable.
func (v *Vault) newID(prefix string) (string, error) {
	var b [16]byte
	if _, err := io.ReadFull(v.cfg.Rand, b[:]); err != nil {
		return "", fmt.Errorf("new id: %w", err)
	}
	return fmt.Sprintf("%s_%x", prefix, b), nil
}

// QueueLen returns how many jobs run and how many wait for a slot now.
func (v *Vault) QueueLen() (running, waiting int) { return v.queue.Len() }
