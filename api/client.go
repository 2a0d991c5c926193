package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"time"

	"github.com/trove-project/trove"
	"github.com/trove-project/trove/api/apigen"
	"github.com/trove-project/trove/consent"
	"github.com/trove-project/trove/ledger"
	"github.com/trove-project/trove/vault"
)

// Limits on what the client reads from a vault.
const (
	maxResponse   = 64 << 20
	maxCheckpoint = 8 << 10
)

// Client calls one vault's public API. It is a thin layer over the client
// generated from openapi.yaml (apigen, see NewGenerated): every method
// builds and sends its request through the generated ClientWithResponses
// and decodes the answer into the package's own types. A client made by As
// signs every request as a requester (RFC 9421, as SignWith does); requester
// endpoints refuse unsigned ones.
//
// The answers are read here, not by the generated ...WithResponse
// methods: those read a body whole with no size limit, whereas Client
// keeps its limits (maxResponse, maxCheckpoint, ledger.MaxEntrySize,
// consent.MaxTokenSize, maxProblemSize) and parses proofs strictly.
type Client struct {
	base string
	http *http.Client
	gen  *apigen.ClientWithResponses
	sign []apigen.RequestEditorFn // the signing editor when made by As
}

// acceptJSON asks for JSON answers (problems come as problem+json).
func acceptJSON(_ context.Context, req *http.Request) error {
	req.Header.Set("Accept", "application/json")
	return nil
}

// As returns a client for the same vault that signs its requests as s,
// with times from now (nil: time.Now) and nonces from rand (nil:
// crypto/rand).
func (c *Client) As(s Signer, now func() time.Time, rand io.Reader) *Client {
	return &Client{base: c.base, http: c.http, gen: c.gen, sign: []apigen.RequestEditorFn{signEditor(s, now, rand)}}
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
	base := strings.TrimRight(u.String(), "/")
	gen, err := NewGenerated(base+"/", httpClient, apigen.WithRequestEditorFn(acceptJSON))
	if err != nil {
		return nil, trove.Errorf(trove.EINVALID, "vault URL %q: %v", baseURL, err)
	}
	return &Client{base: base, http: httpClient, gen: gen}, nil
}

// BaseURL returns the vault's base URL.
func (c *Client) BaseURL() string { return c.base }

// jsonBody encodes a request body as the JSON the vault expects.
func jsonBody(in any) (io.Reader, error) {
	b, err := json.Marshal(in)
	if err != nil {
		return nil, fmt.Errorf("encode request: %w", err)
	}
	return bytes.NewReader(b), nil
}

// read takes the answer of a generated call (op names it in errors) and
// decodes a JSON answer into out (unless out is nil; a *[]byte gets the
// raw body, at most maxResponse bytes), turning problem documents into
// *trove.Error.
func (c *Client) read(op string, resp *http.Response, err error, out any) error {
	if err != nil {
		// The HTTP client's failures come as *url.Error; anything else
		// failed here before sending (encoding, signing, nonce).
		var ue *url.Error
		if errors.As(err, &ue) {
			return &trove.Error{Code: trove.EUNAVAILABLE, Message: fmt.Sprintf("cannot reach the vault at %s", c.base), Err: err}
		}
		return fmt.Errorf("%s: %w", op, err)
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
		if err != nil {
			return fmt.Errorf("%s: read answer: %w", op, err)
		}
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxResponse)).Decode(out); err != nil {
		return fmt.Errorf("%s: decode answer: %w", op, err)
	}
	return nil
}

// Health checks that the vault is up and returns its DID.
func (c *Client) Health(ctx context.Context) (*Health, error) {
	var h Health
	resp, err := c.gen.GetHealth(ctx, c.sign...)
	return &h, c.read("GetHealth", resp, err, &h)
}

// Catalog returns what the vault offers.
func (c *Client) Catalog(ctx context.Context) (*Catalog, error) {
	var cat Catalog
	resp, err := c.gen.GetCatalog(ctx, c.sign...)
	return &cat, c.read("GetCatalog", resp, err, &cat)
}

// SubmitConsentRequest sends a signed consent request.
func (c *Client) SubmitConsentRequest(ctx context.Context, token string) (*ConsentRequestStatus, error) {
	body, err := jsonBody(ConsentRequestBody{Request: token})
	if err != nil {
		return nil, err
	}
	var st ConsentRequestStatus
	resp, err := c.gen.SubmitConsentRequestWithBody(ctx, "application/json", body, c.sign...)
	return &st, c.read("SubmitConsentRequest", resp, err, &st)
}

// ConsentRequest returns the state of a consent request and, once
// approved, its credential.
func (c *Client) ConsentRequest(ctx context.Context, id string) (*ConsentRequestStatus, error) {
	var st ConsentRequestStatus
	resp, err := c.gen.GetConsentRequest(ctx, id, c.sign...)
	return &st, c.read("GetConsentRequest", resp, err, &st)
}

// AnswerCounter sends a requester's signed answer to a counter-offer.
func (c *Client) AnswerCounter(ctx context.Context, id, reply string) (*ConsentRequestStatus, error) {
	body, err := jsonBody(CounterReplyBody{Reply: reply})
	if err != nil {
		return nil, err
	}
	var st ConsentRequestStatus
	resp, err := c.gen.ReplyToCounterOfferWithBody(ctx, id, "application/json", body, c.sign...)
	return &st, c.read("ReplyToCounterOffer", resp, err, &st)
}

// Challenge fetches a single-use nonce for a presentation.
func (c *Client) Challenge(ctx context.Context) (*Challenge, error) {
	var ch Challenge
	resp, err := c.gen.GetChallenge(ctx, c.sign...)
	return &ch, c.read("GetChallenge", resp, err, &ch)
}

// SubmitJob runs a job and returns it once finished.
//
// A job with a module is sent as a multipart upload (UploadJobPart, then
// UploadModulePart), which the vault streams instead of decoding base64;
// the generated client sends that body as it is (SubmitJobWithBody).
func (c *Client) SubmitJob(ctx context.Context, body JobBody) (*vault.Job, error) {
	var (
		raw         []byte
		contentType = "application/json"
		err         error
	)
	if len(body.Module) == 0 {
		raw, err = json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("encode request: %w", err)
		}
	} else if raw, contentType, err = jobUpload(body); err != nil {
		return nil, err
	}
	var job vault.Job
	resp, err := c.gen.SubmitJobWithBody(ctx, contentType, bytes.NewReader(raw), c.sign...)
	return &job, c.read("SubmitJob", resp, err, &job)
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
	resp, err := c.gen.GetJob(ctx, id, c.sign...)
	return &job, c.read("GetJob", resp, err, &job)
}

// Receipt returns a receipt bundle by id.
func (c *Client) Receipt(ctx context.Context, id string) ([]byte, error) {
	var b []byte
	resp, err := c.gen.GetReceipt(ctx, id, c.sign...)
	return b, c.read("GetReceipt", resp, err, &b)
}

// Checkpoint returns the vault's latest signed checkpoint (unverified).
func (c *Client) Checkpoint(ctx context.Context) ([]byte, error) {
	var b []byte
	resp, err := c.gen.GetCheckpoint(ctx, c.sign...)
	if err := c.read("GetCheckpoint", resp, err, &b); err != nil {
		return nil, err
	}
	if len(b) > maxCheckpoint {
		return nil, trove.Errorf(trove.ETOOLARGE, "the checkpoint is over %d bytes", maxCheckpoint)
	}
	return b, nil
}

// Rotations returns the chain of the vault's owner key rotations, oldest
// first, parsed strictly (ledger.ParseRotationChain: size and link
// limits, known fields, canonical encodings) but not verified: verify it
// with ledger.VerifyRotationChain from the DID you knew.
func (c *Client) Rotations(ctx context.Context) ([]ledger.RotationLink, error) {
	var b []byte
	resp, err := c.gen.GetRotations(ctx, c.sign...)
	if err := c.read("GetRotations", resp, err, &b); err != nil {
		return nil, err
	}
	links, err := ledger.ParseRotationChain(b)
	if err != nil {
		return nil, &trove.Error{Code: trove.EINVALID, Reason: "bad_rotation", Message: "the vault's rotation chain is malformed", Err: err}
	}
	return links, nil
}

// InclusionProof asks for a proof that entry index is in the tree of size.
func (c *Client) InclusionProof(ctx context.Context, index, size uint64) (*Proof, error) {
	resp, err := c.gen.GetInclusionProof(ctx, &apigen.GetInclusionProofParams{Index: index, Size: size}, c.sign...)
	return c.proof("GetInclusionProof", resp, err)
}

// ConsistencyProof asks for a proof that the tree of size from is a prefix
// of the tree of size to.
func (c *Client) ConsistencyProof(ctx context.Context, from, to uint64) (*Proof, error) {
	resp, err := c.gen.GetConsistencyProof(ctx, &apigen.GetConsistencyProofParams{From: from, To: to}, c.sign...)
	return c.proof("GetConsistencyProof", resp, err)
}

// proof reads a proof and parses it strictly (ledger.ParseProof): size
// limit, known keys, hashes of the right length. It is not verified here.
func (c *Client) proof(op string, resp *http.Response, err error) (*Proof, error) {
	var b []byte
	if err := c.read(op, resp, err, &b); err != nil {
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
	resp, err := c.gen.GetLogEntry(ctx, index, c.sign...)
	if err := c.read("GetLogEntry", resp, err, &b); err != nil {
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
	resp, err := c.gen.GetClaim(ctx, id, c.sign...)
	return &cl, c.read("GetClaim", resp, err, &cl)
}

// RespondClaim sends a requester-signed acknowledgement (action
// ledger.Acknowledge), dispute (ledger.Dispute) or settlement
// (ledger.Settle) of a claim and returns the claim as the vault now holds
// it.
func (c *Client) RespondClaim(ctx context.Context, id, action, token string) (*ledger.Claim, error) {
	body, err := jsonBody(ClaimResponseBody{Response: token})
	if err != nil {
		return nil, err
	}
	var (
		cl   ledger.Claim
		resp *http.Response
		op   = "AcknowledgeClaim"
	)
	switch action {
	case ledger.Dispute:
		op = "DisputeClaim"
		resp, err = c.gen.DisputeClaimWithBody(ctx, id, "application/json", body, c.sign...)
	case ledger.Settle:
		op = "SettleClaim"
		resp, err = c.gen.SettleClaimWithBody(ctx, id, "application/json", body, c.sign...)
	default:
		resp, err = c.gen.AcknowledgeClaimWithBody(ctx, id, "application/json", body, c.sign...)
	}
	return &cl, c.read(op, resp, err, &cl)
}

// StatusList returns the status list credential (a VC-JWT, unverified)
// named list.
func (c *Client) StatusList(ctx context.Context, list string) (string, error) {
	var b []byte
	resp, err := c.gen.GetStatusList(ctx, list, c.sign...)
	if err := c.read("GetStatusList", resp, err, &b); err != nil {
		return "", err
	}
	if len(b) > consent.MaxTokenSize {
		return "", trove.Errorf(trove.ETOOLARGE, "the status list is over %d bytes", consent.MaxTokenSize)
	}
	return string(b), nil
}
