package ui

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/trove-project/trove"
	"github.com/trove-project/trove/compute"
	"github.com/trove-project/trove/consent"
	"github.com/trove-project/trove/ledger"
	"github.com/trove-project/trove/vault"
)

// Vault is what the UI needs of a vault.
type Vault interface {
	DID() string
	OwnerDIDs() []string
	Datasets(ctx context.Context) ([]vault.Dataset, error)
	Import(ctx context.Context, name string, r io.Reader, opts vault.ImportOptions) (*vault.Dataset, error)
	RemoveDataset(ctx context.Context, name string) error
	ConsentRequests(ctx context.Context, state string) ([]vault.ConsentRequest, error)
	ConsentRequest(ctx context.Context, id string) (*vault.ConsentRequest, error)
	Approve(ctx context.Context, id string) (*vault.ConsentRequest, error)
	Deny(ctx context.Context, id string) (*vault.ConsentRequest, error)
	Consents(ctx context.Context) ([]vault.Consent, error)
	Claims(ctx context.Context) ([]ledger.Claim, error)
	LogEntries(ctx context.Context, f vault.LogFilter) ([]vault.LoggedEntry, error)
	Checkpoint(ctx context.Context) ([]byte, error)
	InclusionProof(ctx context.Context, index, size uint64) ([][]byte, error)
	Receipt(ctx context.Context, id string) (json.RawMessage, error)
	RecordLogin(ctx context.Context) error
	Jobs(ctx context.Context) ([]vault.Job, error)
	JobStderr(ctx context.Context, id string) ([]byte, error)
	ReviewJob(ctx context.Context, id string) (*vault.Job, error)
	ReleaseJob(ctx context.Context, id string) (*vault.Job, error)
	WithholdJob(ctx context.Context, id string) (*vault.Job, error)
	Privacy(ctx context.Context, dataset string) (*vault.Privacy, error)
	SetPrivacy(ctx context.Context, dataset string, minimum compute.OutputPolicy, budgetEpsilon, budgetDelta float64) (*vault.Privacy, error)
	Counter(ctx context.Context, id string, n vault.Narrowing) (*vault.ConsentRequest, error)
	Revoke(ctx context.Context, consentID string) (*vault.Consent, error)
	Policy(ctx context.Context) (*consent.Policy, error)
	SetPolicy(ctx context.Context, p *consent.Policy) error
}

// DefaultAddr is where the UI listens unless told otherwise: loopback only.
const DefaultAddr = "127.0.0.1:8471"

// LinkFileName is the file in the vault home where `trove serve` keeps a
// fresh login link for `trove ui`.
const LinkFileName = "ui-login-link"

// Config configures the UI server. The zero value of each field means its
// documented default.
type Config struct {
	Addr        string        // listen address; default DefaultAddr
	AllowRemote bool          // allow a non-loopback address (the owner was warned)
	TLS         *tls.Config   // serve HTTPS with this configuration; cookies are then Secure
	LinkFile    string        // where to keep a fresh login link (mode 0600); none if empty
	SessionTTL  time.Duration // how long a session lasts; default 12 hours
	MaxUpload   int64         // largest dataset upload, in bytes; default 256 MiB
	Now         func() time.Time
	Rand        io.Reader
	Logger      *slog.Logger
	// Metrics, if set, is served at GET /metrics without a session, for a
	// Prometheus on this computer: aggregates only, no personal data.
	Metrics http.Handler
}

func (c Config) withDefaults() Config {
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.SessionTTL == 0 {
		c.SessionTTL = 12 * time.Hour
	}
	if c.MaxUpload == 0 {
		c.MaxUpload = 256 << 20
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Rand == nil {
		c.Rand = rand.Reader
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

//go:embed templates/*.html static/*
var assets embed.FS

// Server serves the owner's web UI for one vault.
type Server struct {
	cfg   Config
	vault Vault
	pages *pages

	ln   net.Listener
	http *http.Server

	mu       sync.Mutex
	links    map[[32]byte]bool     // hashes of unused login tokens
	sessions map[[32]byte]*session // by hash of session id
	link     string                // the newest unused login link
}

// NewServer returns a UI server for v; it listens once opened.
func NewServer(v Vault, cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	p, err := loadPages()
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, vault: v, pages: p, links: map[[32]byte]bool{}, sessions: map[[32]byte]*session{}}
	s.http = &http.Server{
		Handler:           s.handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       10 * time.Minute, // uploads
		WriteTimeout:      10 * time.Minute,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		TLSConfig:         cfg.TLS,
	}
	return s, nil
}

// CheckAddr refuses a listen address that is not loopback, unless
// allowRemote is set. A host name other than "localhost" counts as not
// loopback: it could resolve anywhere.
func CheckAddr(addr string, allowRemote bool) error {
	if allowRemote {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return trove.Errorf(trove.EINVALID, "UI address %q: %v", addr, err)
	}
	if !isLoopbackHost(host) {
		return &trove.Error{Code: trove.EINVALID, Reason: "ui_not_loopback",
			Message: fmt.Sprintf("the owner UI listens only on loopback (127.0.0.1, ::1, localhost), not on %q; allow another address explicitly if you must", addr)}
	}
	return nil
}

func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Open checks the address, starts listening and serving in the
// background, and mints the first login link.
func (s *Server) Open() error {
	if err := CheckAddr(s.cfg.Addr, s.cfg.AllowRemote); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.cfg.Addr, err)
	}
	s.ln = ln
	if _, err := s.NewLoginLink(); err != nil {
		ln.Close()
		return err
	}
	go func() {
		var err error
		if s.cfg.TLS != nil {
			err = s.http.ServeTLS(ln, "", "")
		} else {
			err = s.http.Serve(ln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.cfg.Logger.Error("ui server stopped", "err", err)
		}
	}()
	return nil
}

// Port returns the port the server listens on.
func (s *Server) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// URL returns the base URL of the UI.
func (s *Server) URL() string {
	host, _, _ := net.SplitHostPort(s.ln.Addr().String())
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	scheme := "http"
	if s.cfg.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(host, strconv.Itoa(s.Port()))
}

// LoginLink returns the newest unused login link.
func (s *Server) LoginLink() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.link
}

// Close stops the server, letting requests in flight finish within ctx,
// and removes the login link file.
func (s *Server) Close(ctx context.Context) error {
	err := s.http.Shutdown(ctx)
	if s.cfg.LinkFile != "" {
		if rerr := os.Remove(s.cfg.LinkFile); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			err = errors.Join(err, rerr)
		}
	}
	return err
}
