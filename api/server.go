package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/trove-project/trove"
	"github.com/trove-project/trove/api/apigen"
	"github.com/trove-project/trove/compute"
	"github.com/trove-project/trove/consent"
	"github.com/trove-project/trove/ledger"
	"github.com/trove-project/trove/vault"
)

// Vault is what the API needs of a vault.
type Vault interface {
	DID() string
	Datasets(ctx context.Context) ([]vault.Dataset, error)
	SubmitRequest(ctx context.Context, token string) (*vault.ConsentRequest, error)
	ConsentRequest(ctx context.Context, id string) (*vault.ConsentRequest, error)
	Challenge(ctx context.Context) (string, time.Time, error)
	RunJob(ctx context.Context, jr vault.JobRequest) (*vault.Job, error)
	Job(ctx context.Context, id string) (*vault.Job, error)
	Receipt(ctx context.Context, id string) (json.RawMessage, error)
	Checkpoint(ctx context.Context) ([]byte, error)
	InclusionProof(ctx context.Context, index, size uint64) ([][]byte, error)
	ConsistencyProof(ctx context.Context, from, to uint64) ([][]byte, error)
	LogEntry(ctx context.Context, index uint64) ([]byte, error)
	Claim(ctx context.Context, id string) (*ledger.Claim, error)
	RespondClaim(ctx context.Context, id, action, token string) (*ledger.Claim, error)
	StatusList(ctx context.Context, list string) (string, error)
	Policy(ctx context.Context) (*consent.Policy, error)
	AnswerCounter(ctx context.Context, id, token string) (*vault.ConsentRequest, error)
	DIDDocument(ctx context.Context) ([]byte, error)
	OwnerDIDs() []string
	Rotations(ctx context.Context) ([]ledger.RotationLink, error)
}

// Limits on request bodies and on signed requests remembered.
const (
	maxNonces = vault.DefaultMaxNonces // in memory, as many as vault.Nonces keeps on disk by default

	MaxSmallBody = 64 << 10 // JSON bodies other than jobs
	MaxJobBody   = 48 << 20 // a job carries a module (base64 in JSON)
)

// Server serves the public API of one vault.
type Server struct {
	Addr   string // listen address; "127.0.0.1:0" picks a free port
	Vault  Vault
	Logger *slog.Logger
	// Now is the clock request signatures are checked against; default
	// time.Now. Set it before Open.
	Now func() time.Time

	nonces nonceCache // the fast path of replay protection
	store  NonceStore // where accepted nonces outlive the process; nil: memory only

	metrics  *Metrics
	inflight sync.WaitGroup     // requests being answered
	base     context.Context    // every request's context derives from it
	stop     context.CancelFunc // cancels base: in-flight jobs stop and are recorded as failed

	limits       Limits
	perIP        *keyedLimiter
	perRequester *keyedLimiter
	uploads      chan struct{} // a token per job body being read or run

	ln   net.Listener
	http *http.Server
	echo *echo.Echo
}

// NewServer returns a server for v listening on addr once opened.
func NewServer(v Vault, addr string, logger *slog.Logger) *Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{Addr: addr, Vault: v, Logger: logger, echo: echo.New(), Now: time.Now, nonces: nonceCache{max: maxNonces}}
	s.SetLimits(Limits{})
	s.echo.HideBanner, s.echo.HidePort = true, true
	s.echo.HTTPErrorHandler = s.handleError
	s.echo.Pre(s.observe, s.limitIP, canonicalPath, s.uploadSlot)
	s.base, s.stop = context.WithCancel(context.Background())
	s.routes()
	s.http = &http.Server{
		Handler:           s.echo,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       5 * time.Minute,
		WriteTimeout:      5 * time.Minute,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		BaseContext:       func(net.Listener) context.Context { return s.base },
	}
	return s
}

// Open starts listening and serving in the background.
func (s *Server) Open() error {
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.Addr, err)
	}
	s.ln = limitConns(ln, s.limits.ConnsPerIP)
	go func() {
		if err := s.http.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.Logger.Error("api server stopped", "err", err)
		}
	}()
	return nil
}

// SetLimits sets the rate and connection limits (zero fields take their
// defaults). Call it before Open.
func (s *Server) SetLimits(l Limits) {
	s.limits = l.withDefaults()
	s.perIP = newKeyedLimiter(s.limits.PerIP, s.limits.IPBurst, s.limits.MaxClients)
	s.perRequester = newKeyedLimiter(s.limits.PerRequester, s.limits.RequesterBurst, s.limits.MaxClients)
	s.uploads = make(chan struct{}, s.limits.Uploads)
}

func (s *Server) now() time.Time { return s.Now().UTC() }

// Port returns the port the server listens on.
func (s *Server) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// URL returns the base URL of the server.
func (s *Server) URL() string {
	host, _, _ := net.SplitHostPort(s.ln.Addr().String())
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, strconv.Itoa(s.Port()))
}

// Close stops the server: it stops accepting connections and lets the
// requests in flight finish within ctx. Requests still running when ctx
// ends are cancelled — a job then stops and is recorded as failed
// (reason "canceled") — and Close returns once they have answered.
func (s *Server) Close(ctx context.Context) error {
	err := s.http.Shutdown(ctx)
	s.stop()
	if err != nil {
		s.http.Close() // no request starts any more
		s.inflight.Wait()
		return fmt.Errorf("stop the API server: requests still running were cancelled: %w", err)
	}
	return nil
}

func (s *Server) routes() {
	e := s.echo
	small := bodyLimit(MaxSmallBody)
	// Requester endpoints: every request signed by the requester's DID
	// key, then held to the per-requester rate.
	auth := func(next echo.HandlerFunc) echo.HandlerFunc { return s.authenticate(s.limitRequester(next)) }
	// Each route goes through the wrapper generated from openapi.yaml.
	op := &apigen.ServerInterfaceWrapper{Handler: operations{s}}
	e.GET("/healthz", op.GetHealth)
	e.GET("/openapi.yaml", op.GetOpenAPI)
	e.GET("/.well-known/did.json", op.GetDIDDocument)
	e.GET("/v1/did/rotations", op.GetRotations)
	e.GET("/v1/catalog", op.GetCatalog)
	e.POST("/v1/consent-requests", op.SubmitConsentRequest, small, auth)
	e.GET("/v1/consent-requests/:id", op.GetConsentRequest, small, auth)
	e.POST("/v1/consent-requests/:id/reply", op.ReplyToCounterOffer, small, auth)
	e.GET("/v1/challenge", op.GetChallenge, small, auth)
	e.POST("/v1/jobs", op.SubmitJob, bodyLimit(MaxJobBody), auth)
	e.GET("/v1/jobs/:id", op.GetJob, small, auth)
	e.GET("/v1/receipts/:id", op.GetReceipt, small, auth)
	e.GET("/v1/log/checkpoint", op.GetCheckpoint)
	e.GET("/v1/log/proof/inclusion", op.GetInclusionProof)
	e.GET("/v1/log/proof/consistency", op.GetConsistencyProof)
	e.GET("/v1/log/entries/:index", op.GetLogEntry)
	e.GET("/v1/claims/:id", op.GetClaim, small, auth)
	e.POST("/v1/claims/:id/ack", op.AcknowledgeClaim, small, auth)
	e.POST("/v1/claims/:id/dispute", op.DisputeClaim, small, auth)
	e.POST("/v1/claims/:id/settle", op.SettleClaim, small, auth)
	e.GET("/v1/status/:list", op.GetStatusList)
}

// bodyLimit caps a request body: reading past n fails with a
// too_large problem.
func bodyLimit(n int64) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			r := c.Request()
			if r.ContentLength > n {
				return trove.Errorf(trove.ETOOLARGE, "the body is over the limit of %d bytes", n)
			}
			r.Body = http.MaxBytesReader(c.Response(), r.Body, n)
			return next(c)
		}
	}
}

// handleError writes every error as problem+json.
func (s *Server) handleError(err error, c echo.Context) {
	var he *echo.HTTPError
	if errors.As(err, &he) {
		code := codeOf(he.Code)
		err = &trove.Error{Code: code, Message: fmt.Sprint(he.Message)}
		if he.Code == http.StatusMethodNotAllowed || he.Code == http.StatusNotFound {
			err = &trove.Error{Code: trove.ENOTFOUND, Message: "no such resource"}
		}
	}
	p := problemFor(err)
	if p.Status >= 500 {
		s.Logger.Error("request failed", "method", c.Request().Method, "path", c.Path(), "err", err)
	}
	if c.Response().Committed {
		return
	}
	b, _ := json.Marshal(p)
	c.Response().Header().Set("Content-Type", "application/problem+json")
	setProblemHeaders(c.Response().Header(), trove.ErrorCode(err))
	c.Response().WriteHeader(p.Status)
	c.Response().Write(b)
}

// decode reads a JSON body strictly: one document, no unknown fields.
func decode(c echo.Context, v any) error {
	dec := json.NewDecoder(c.Request().Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return trove.Errorf(trove.ETOOLARGE, "the body is over the limit of %d bytes", tooLarge.Limit)
		}
		return trove.Errorf(trove.EINVALID, "the body is not valid JSON for this endpoint: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return trove.Errorf(trove.EINVALID, "the body holds more than one JSON document")
	}
	return nil
}

func (s *Server) health(c echo.Context) error {
	return c.JSON(http.StatusOK, Health{Status: "ok", Vault: s.Vault.DID()})
}

// openAPI serves the API's description, embedded at build time.
func (s *Server) openAPI(c echo.Context) error {
	return c.Blob(http.StatusOK, "application/yaml", OpenAPI)
}

func (s *Server) catalog(c echo.Context) error {
	ds, err := s.Vault.Datasets(c.Request().Context())
	if err != nil {
		return err
	}
	p, err := s.Vault.Policy(c.Request().Context())
	if err != nil {
		return err
	}
	cat := Catalog{Vault: s.Vault.DID(), Datasets: []CatalogDataset{}, Algorithms: compute.Builtins(),
		Policy: CatalogPolicy{Hash: p.Hash(), Summary: p.Summary()}}
	for _, d := range ds {
		cat.Datasets = append(cat.Datasets, CatalogDataset{Name: d.Name, Digest: d.Digest, Schema: d.Schema, Rows: rowsBucket(d.Rows)})
	}
	return c.JSON(http.StatusOK, cat)
}

func (s *Server) submitRequest(c echo.Context) error {
	var body ConsentRequestBody
	if err := decode(c, &body); err != nil {
		return err
	}
	// The request must be signed by whoever signed the HTTP request: no
	// one submits on another's behalf.
	req, err := consent.VerifyRequest(body.Request, s.Vault.DID(), s.now())
	if err != nil {
		return &trove.Error{Code: trove.EINVALID, Reason: string(consent.CodeOf(err)), Message: err.Error(), Err: err}
	}
	if req.Requester != requesterOf(c) {
		return &trove.Error{Code: trove.EFORBIDDEN, Reason: "not_requester", Message: "the consent request is not signed by the requester who sends it"}
	}
	r, err := s.Vault.SubmitRequest(c.Request().Context(), body.Request)
	if err != nil {
		return notOffered(err)
	}
	return c.JSON(http.StatusCreated, statusOfRequest(r))
}

// notOffered turns "no such dataset" into the refusal every request for
// something the vault does not offer gets: the same status, reason and
// words whatever was named, so the answer says nothing the public catalog
// does not.
func notOffered(err error) error {
	if trove.ErrorCode(err) == trove.ENOTFOUND {
		return &trove.Error{Code: trove.EFORBIDDEN, Reason: "not_offered", Message: "the vault does not offer what the request asks for"}
	}
	return err
}

func statusOfRequest(r *vault.ConsentRequest) ConsentRequestStatus {
	return ConsentRequestStatus{ID: r.ID, State: r.State, ConsentID: r.ConsentID, Credential: r.Credential, CounterOffer: r.CounterOffer}
}

// notYours answers a requester who asks for another's resource as if it
// did not exist: ids are not confirmed to strangers.
func notYours(what, id string) error {
	return trove.Errorf(trove.ENOTFOUND, "no %s %q", what, id)
}

// answerCounter takes a requester's signed answer to a counter-offer.
func (s *Server) answerCounter(c echo.Context) error {
	var body CounterReplyBody
	if err := decode(c, &body); err != nil {
		return err
	}
	reply, err := vault.VerifyReply(body.Reply, s.Vault.OwnerDIDs(), s.now())
	if err != nil {
		return &trove.Error{Code: trove.EFORBIDDEN, Reason: string(consent.CodeOf(err)), Message: err.Error(), Err: err}
	}
	if reply.Requester != requesterOf(c) {
		return &trove.Error{Code: trove.EFORBIDDEN, Reason: "not_requester", Message: "the answer is not signed by the requester who sends it"}
	}
	r, err := s.Vault.AnswerCounter(c.Request().Context(), c.Param("id"), body.Reply)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, statusOfRequest(r))
}

func (s *Server) getRequest(c echo.Context) error {
	r, err := s.Vault.ConsentRequest(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	if r.Requester != requesterOf(c) {
		return notYours("consent request", c.Param("id"))
	}
	return c.JSON(http.StatusOK, statusOfRequest(r))
}

func (s *Server) challenge(c echo.Context) error {
	nonce, exp, err := s.Vault.Challenge(c.Request().Context())
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, Challenge{Nonce: nonce, Audience: s.Vault.DID(), ExpiresAt: exp})
}

func (s *Server) submitJob(c echo.Context) error {
	if streamed(c.Request()) {
		return s.submitJobUpload(c)
	}
	var body JobBody
	if err := decode(c, &body); err != nil {
		return err
	}
	job, err := s.Vault.RunJob(c.Request().Context(), vault.JobRequest{
		Presentation: body.Presentation, Algorithm: body.Algorithm, Module: body.Module, Params: body.Params,
		Requester: requesterOf(c),
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, job)
}

func (s *Server) getJob(c echo.Context) error {
	job, err := s.Vault.Job(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	if job.Requester != requesterOf(c) {
		return notYours("job", c.Param("id"))
	}
	return c.JSON(http.StatusOK, job)
}

func (s *Server) getReceipt(c echo.Context) error {
	r, err := s.Vault.Receipt(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	if rc := s.ownReceipt(r); rc == nil || rc.Requester != requesterOf(c) {
		return notYours("receipt", c.Param("id"))
	}
	return c.JSONBlob(http.StatusOK, r)
}

// ownReceipt returns the claims of a receipt bundle that verifies with a
// DID the owner has had (receipts made before a key rotation are signed
// by the retired DID), or nil.
func (s *Server) ownReceipt(bundle []byte) *ledger.ReceiptClaims {
	for _, id := range s.Vault.OwnerDIDs() {
		if rc, _, err := ledger.VerifyReceipt(bundle, id); err == nil {
			return rc
		}
	}
	return nil
}

func (s *Server) checkpoint(c echo.Context) error {
	note, err := s.Vault.Checkpoint(c.Request().Context())
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.Blob(http.StatusOK, "text/plain; charset=utf-8", note)
}

// uintParam reads a required unsigned integer query parameter.
func uintParam(c echo.Context, name string) (uint64, error) {
	v := c.QueryParam(name)
	n, err := strconv.ParseUint(v, 10, 63)
	if err != nil {
		return 0, trove.Errorf(trove.EINVALID, "query parameter %s must be a non-negative integer", name)
	}
	return n, nil
}

func (s *Server) inclusionProof(c echo.Context) error {
	index, err := uintParam(c, "index")
	if err != nil {
		return err
	}
	size, err := uintParam(c, "size")
	if err != nil {
		return err
	}
	hashes, err := s.Vault.InclusionProof(c.Request().Context(), index, size)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, Proof{Index: index, Size: size, Hashes: nonNil(hashes)})
}

func (s *Server) consistencyProof(c echo.Context) error {
	from, err := uintParam(c, "from")
	if err != nil {
		return err
	}
	to, err := uintParam(c, "to")
	if err != nil {
		return err
	}
	hashes, err := s.Vault.ConsistencyProof(c.Request().Context(), from, to)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, Proof{From: from, Size: to, Hashes: nonNil(hashes)})
}

// nonNil makes an empty proof encode as [], not null.
func nonNil(hashes [][]byte) [][]byte {
	if hashes == nil {
		return [][]byte{}
	}
	return hashes
}

// logEntry serves the entry at an index, exactly the bytes logged, so
// that SHA-256(0x00 || body) is its leaf hash.
func (s *Server) logEntry(c echo.Context) error {
	index, err := strconv.ParseUint(c.Param("index"), 10, 63)
	if err != nil {
		return trove.Errorf(trove.EINVALID, "the entry index must be a non-negative integer")
	}
	b, err := s.Vault.LogEntry(c.Request().Context(), index)
	if err != nil {
		return err
	}
	return c.Blob(http.StatusOK, "application/json", b)
}

func (s *Server) getClaim(c echo.Context) error {
	cl, err := s.Vault.Claim(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	if cl.Requester != requesterOf(c) {
		return notYours("claim", c.Param("id"))
	}
	return c.JSON(http.StatusOK, cl)
}

// respondClaim records a requester's signed acknowledgement, dispute or
// settlement of a claim.
func (s *Server) respondClaim(action string) echo.HandlerFunc {
	return func(c echo.Context) error {
		var body ClaimResponseBody
		if err := decode(c, &body); err != nil {
			return err
		}
		cl, err := s.Vault.RespondClaim(c.Request().Context(), c.Param("id"), action, body.Response)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, cl)
	}
}

// statusList serves a revocation status list as the owner-signed VC-JWT.
// It is not cached: a revocation must show at once.
func (s *Server) statusList(c echo.Context) error {
	tok, err := s.Vault.StatusList(c.Request().Context(), c.Param("list"))
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.Blob(http.StatusOK, StatusListMediaType, []byte(tok))
}

// rotations serves the chain of the owner's key rotations.
func (s *Server) rotations(c echo.Context) error {
	links, err := s.Vault.Rotations(c.Request().Context())
	if err != nil {
		return err
	}
	b, err := ledger.MarshalRotationChain(links)
	if err != nil {
		return err
	}
	return c.JSONBlob(http.StatusOK, b)
}

// didDocument serves the vault's did:web DID document.
func (s *Server) didDocument(c echo.Context) error {
	doc, err := s.Vault.DIDDocument(c.Request().Context())
	if err != nil {
		return err
	}
	return c.Blob(http.StatusOK, "application/did+json", doc)
}

// Routes lists the method and path of every route the server answers.
func (s *Server) Routes() []*echo.Route { return s.echo.Routes() }
