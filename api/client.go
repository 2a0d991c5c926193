package api

import (
	"bytes"
	"context"
	cryptorand "crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"time"

	"github.com/trove-project/trove"
	"github.com/trove-project/trove/consent"
	"github.com/trove-project/trove/ledger"
	"github.com/trove-project/trove/vault"
)

// Limits on what the client reads from a vault.
const (
	maxResponse   = 64 << 20
	maxCheckpoint = 8 << 10
)

// Client calls one vault's public API. A client made by As signs every
// request as a requester (RFC 9421, see SignRequest); requester endpoints
// refuse unsigned ones.
type Client struct {
	base   string
	http   *http.Client
	signer Signer
	now    func() time.Time
	rand   io.Reader
}

// As returns a client for the same vault that signs its requests as s,
// with times from now (nil: time.Now) and nonces from rand (nil:
// crypto/rand).
func (c *Client) As(s Signer, now func() time.Time, rand io.Reader) *Client {
	if now == nil {
		now = time.Now
	}
	if rand == nil {
		rand = cryptorand.Reader
	}
	return &Client{base: c.base, http: c.http, signer: s, now: now, rand: rand}
}

// NewClient returns a client for the vault at baseURL (such as
// http://127.0.0.1:8470). A nil httpClient means one with a 5-minute
// timeout.
func NewClient(baseURL string, httpClient *http.Client) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, trove.Errorf(trove.EINVALID, "vault URL %q: want http(s)://host[:port]", baseURL)
	}
	if httpClient == nil {
		httpClient = &http.Client{Timeout: 5 * time.Minute}
	}
	return &Client{base: strings.TrimRight(u.String(), "/"), http: httpClient}, nil
}

// BaseURL returns the vault's base URL.
func (c *Client) BaseURL() string { return c.base }

// do sends a request and decodes a JSON answer into out (unless out is
// nil), turning problem documents into *trove.Error.
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var raw []byte
	contentType := ""
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		raw, contentType = b, "application/json"
	}
	return c.send(ctx, method, path, contentType, raw, out)
}

// send sends raw as a body of contentType ("" for none), signed when the
// client signs, and decodes the answer as do does.
func (c *Client) send(ctx context.Context, method, path, contentType string, raw []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(raw))
	if err != nil {
		return err
	}
	if c.signer != nil {
		var n [18]byte
		if _, err := io.ReadFull(c.rand, n[:]); err != nil {
			return fmt.Errorf("request nonce: %w", err)
		}
		if err := SignRequest(req, raw, c.signer, c.now(), base64.RawURLEncoding.EncodeToString(n[:])); err != nil {
			return err
		}
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return &trove.Error{Code: trove.EUNAVAILABLE, Message: fmt.Sprintf("cannot reach the vault at %s", c.base), Err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return errorFromResponse(resp)
	}
	if out == nil {
		return nil
	}
	if raw, ok := out.(*[]byte); ok {
		*raw, err = io.ReadAll(io.LimitReader(resp.Body, maxResponse))
		return err
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxResponse)).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}

// Health checks that the vault is up and returns its DID.
func (c *Client) Health(ctx context.Context) (*Health, error) {
	var h Health
	return &h, c.do(ctx, http.MethodGet, "/healthz", nil, &h)
}

// Catalog returns what the vault offers.
func (c *Client) Catalog(ctx context.Context) (*Catalog, error) {
	var cat Catalog
	return &cat, c.do(ctx, http.MethodGet, "/v1/catalog", nil, &cat)
}

// SubmitConsentRequest sends a signed consent request.
func (c *Client) SubmitConsentRequest(ctx context.Context, token string) (*ConsentRequestStatus, error) {
	var st ConsentRequestStatus
	return &st, c.do(ctx, http.MethodPost, "/v1/consent-requests", ConsentRequestBody{Request: token}, &st)
}

// ConsentRequest returns the state of a consent request and, once
// approved, its credential.
func (c *Client) ConsentRequest(ctx context.Context, id string) (*ConsentRequestStatus, error) {
	var st ConsentRequestStatus
	return &st, c.do(ctx, http.MethodGet, "/v1/consent-requests/"+url.PathEscape(id), nil, &st)
}

// AnswerCounter sends a requester's signed answer to a counter-offer.
func (c *Client) AnswerCounter(ctx context.Context, id, reply string) (*ConsentRequestStatus, error) {
	var st ConsentRequestStatus
	return &st, c.do(ctx, http.MethodPost, "/v1/consent-requests/"+url.PathEscape(id)+"/reply", CounterReplyBody{Reply: reply}, &st)
}

// Challenge fetches a single-use nonce for a presentation.
func (c *Client) Challenge(ctx context.Context) (*Challenge, error) {
	var ch Challenge
	return &ch, c.do(ctx, http.MethodGet, "/v1/challenge", nil, &ch)
}

// SubmitJob runs a job and returns it once finished.
//
// A job with a module is sent as a multipart upload (UploadJobPart, then
// UploadModulePart), which the vault streams instead of decoding base64.
func (c *Client) SubmitJob(ctx context.Context, body JobBody) (*vault.Job, error) {
	var job vault.Job
	if len(body.Module) == 0 {
		return &job, c.do(ctx, http.MethodPost, "/v1/jobs", body, &job)
	}
	raw, contentType, err := jobUpload(body)
	if err != nil {
		return nil, err
	}
	return &job, c.send(ctx, http.MethodPost, "/v1/jobs", contentType, raw, &job)
}

// jobUpload encodes a job with a module as the multipart body of a
// streamed upload.
func jobUpload(body JobBody) ([]byte, string, error) {
	module := body.Module
	body.Module = nil
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	jw, err := mw.CreatePart(textproto.MIMEHeader{
		"Content-Disposition": {`form-data; name="` + UploadJobPart + `"`}, "Content-Type": {"application/json"}})
	if err != nil {
		return nil, "", err
	}
	if err := json.NewEncoder(jw).Encode(body); err != nil {
		return nil, "", err
	}
	ww, err := mw.CreatePart(textproto.MIMEHeader{
		"Content-Disposition": {`form-data; name="` + UploadModulePart + `"; filename="module.wasm"`}, "Content-Type": {"application/wasm"}})
	if err != nil {
		return nil, "", err
	}
	if _, err := ww.Write(module); err != nil {
		return nil, "", err
	}
	if err := mw.Close(); err != nil {
		return nil, "", err
	}
	return buf.Bytes(), mw.FormDataContentType(), nil
}

// Job returns a job by id.
func (c *Client) Job(ctx context.Context, id string) (*vault.Job, error) {
	var job vault.Job
	return &job, c.do(ctx, http.MethodGet, "/v1/jobs/"+url.PathEscape(id), nil, &job)
}

// Receipt returns a receipt bundle by id.
func (c *Client) Receipt(ctx context.Context, id string) ([]byte, error) {
	var b []byte
	return b, c.do(ctx, http.MethodGet, "/v1/receipts/"+url.PathEscape(id), nil, &b)
}

// Checkpoint returns the vault's latest signed checkpoint (unverified).
func (c *Client) Checkpoint(ctx context.Context) ([]byte, error) {
	var b []byte
	if err := c.do(ctx, http.MethodGet, "/v1/log/checkpoint", nil, &b); err != nil {
		return nil, err
	}
	if len(b) > maxCheckpoint {
		return nil, trove.Errorf(trove.ETOOLARGE, "the checkpoint is over %d bytes", maxCheckpoint)
	}
	return b, nil
}

// InclusionProof asks for a proof that entry index is in the tree of size.
func (c *Client) InclusionProof(ctx context.Context, index, size uint64) (*Proof, error) {
	return c.proof(ctx, fmt.Sprintf("/v1/log/proof/inclusion?index=%d&size=%d", index, size))
}

// ConsistencyProof asks for a proof that the tree of size from is a prefix
// of the tree of size to.
func (c *Client) ConsistencyProof(ctx context.Context, from, to uint64) (*Proof, error) {
	return c.proof(ctx, fmt.Sprintf("/v1/log/proof/consistency?from=%d&to=%d", from, to))
}

// proof fetches a proof and parses it strictly (ledger.ParseProof): size
// limit, known keys, hashes of the right length. It is not verified here.
func (c *Client) proof(ctx context.Context, path string) (*Proof, error) {
	var b []byte
	if err := c.do(ctx, http.MethodGet, path, nil, &b); err != nil {
		return nil, err
	}
	p, err := ledger.ParseProof(b)
	if err != nil {
		return nil, &trove.Error{Code: trove.EINVALID, Reason: "bad_proof", Message: "the vault's proof is malformed", Err: err}
	}
	return &Proof{Index: p.Index, From: p.From, Size: p.Size, Hashes: p.Hashes}, nil
}

// LogEntry returns the log entry at index as the vault logged it
// (unverified: check its leaf hash against an inclusion proof).
func (c *Client) LogEntry(ctx context.Context, index uint64) ([]byte, error) {
	var b []byte
	if err := c.do(ctx, http.MethodGet, fmt.Sprintf("/v1/log/entries/%d", index), nil, &b); err != nil {
		return nil, err
	}
	if len(b) > ledger.MaxEntrySize {
		return nil, trove.Errorf(trove.ETOOLARGE, "the log entry is over %d bytes", ledger.MaxEntrySize)
	}
	return b, nil
}

// Claim returns a compensation claim by id.
func (c *Client) Claim(ctx context.Context, id string) (*ledger.Claim, error) {
	var cl ledger.Claim
	return &cl, c.do(ctx, http.MethodGet, "/v1/claims/"+url.PathEscape(id), nil, &cl)
}

// RespondClaim sends a requester-signed acknowledgement (action
// ledger.Acknowledge) or dispute (ledger.Dispute) of a claim and returns
// the claim as the vault now holds it.
func (c *Client) RespondClaim(ctx context.Context, id, action, token string) (*ledger.Claim, error) {
	path := "/v1/claims/" + url.PathEscape(id) + "/ack"
	if action == ledger.Dispute {
		path = "/v1/claims/" + url.PathEscape(id) + "/dispute"
	}
	var cl ledger.Claim
	return &cl, c.do(ctx, http.MethodPost, path, ClaimResponseBody{Response: token}, &cl)
}

// StatusList returns the status list credential (a VC-JWT, unverified)
// named list.
func (c *Client) StatusList(ctx context.Context, list string) (string, error) {
	var b []byte
	if err := c.do(ctx, http.MethodGet, "/v1/status/"+url.PathEscape(list), nil, &b); err != nil {
		return "", err
	}
	if len(b) > consent.MaxTokenSize {
		return "", trove.Errorf(trove.ETOOLARGE, "the status list is over %d bytes", consent.MaxTokenSize)
	}
	return string(b), nil
}
