package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/trove-project/trove/api"
	"github.com/trove-project/trove/api/apigen"
	"github.com/trove-project/trove/compute"
	"github.com/trove-project/trove/consent"
	"github.com/trove-project/trove/examples"
	"github.com/trove-project/trove/ledger"
)

// loadSpec parses and validates openapi.yaml, examples included.
func loadSpec(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(api.OpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background(), openapi3.EnableExamplesValidation()); err != nil {
		t.Fatalf("openapi.yaml is not valid OpenAPI 3.0: %v", err)
	}
	return doc
}

func TestSpecIsValid(t *testing.T) { loadSpec(t) }

// conformingTransport checks every request and answer that passes through
// it against the spec, and records what does not conform.
type conformingTransport struct {
	router routers.Router
	mu     sync.Mutex
	errs   []string
	seen   map[string]bool // operation id and status seen
}

func (c *conformingTransport) fail(format string, args ...any) {
	c.mu.Lock()
	c.errs = append(c.errs, fmt.Sprintf(format, args...))
	c.mu.Unlock()
}

func (c *conformingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil {
		reqBody, _ = io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))

	check := req.Clone(req.Context())
	check.Body = io.NopCloser(bytes.NewReader(reqBody))
	route, params, err := c.router.FindRoute(check)
	if err != nil {
		c.fail("%s %s: no operation in the spec: %v", req.Method, req.URL.Path, err)
		return resp, nil
	}
	opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true}
	in := &openapi3filter.RequestValidationInput{Request: check, PathParams: params, Route: route, Options: opts}
	if resp.StatusCode < 400 {
		if err := openapi3filter.ValidateRequest(req.Context(), in); err != nil {
			c.fail("%s %s: request does not conform: %v", req.Method, req.URL.Path, err)
		}
	}
	ct := resp.Header.Get("Content-Type")
	if strings.HasPrefix(ct, "application/did+json") {
		opts.ExcludeResponseBody = true // a media type kin-openapi has no decoder for; its schema is checked by the typed client
	}
	err = openapi3filter.ValidateResponse(req.Context(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header, Body: io.NopCloser(bytes.NewReader(body)), Options: opts,
	})
	if err != nil {
		c.fail("%s %s → %d: answer does not conform: %v", req.Method, req.URL.Path, resp.StatusCode, err)
	}
	c.mu.Lock()
	c.seen[fmt.Sprintf("%s %d", route.Operation.OperationID, resp.StatusCode)] = true
	c.mu.Unlock()
	return resp, nil
}

// What the server answers, successes and problems, is what the spec
// describes: a whole flow through the generated client, every request and
// answer validated against openapi.yaml.
func TestAnswersConformToSpec(t *testing.T) {
	doc := loadSpec(t)
	w := newWorld(t)
	doc.Servers = openapi3.Servers{{URL: w.srv.URL()}}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	tr := &conformingTransport{router: router, seen: map[string]bool{}}
	hc := &http.Client{Transport: tr, Timeout: time.Minute}
	anon, err := api.NewGenerated(w.srv.URL(), hc)
	if err != nil {
		t.Fatal(err)
	}
	c, err := api.NewGenerated(w.srv.URL(), hc, api.SignWith(w.key, w.clock.Now, nil))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	must("health", api.Check(anon.GetHealthWithResponse(ctx)))
	must("openapi", api.Check(anon.GetOpenAPIWithResponse(ctx)))
	must("catalog", api.Check(anon.GetCatalogWithResponse(ctx)))
	anon.GetDIDDocumentWithResponse(ctx) // 404: no domain

	// approved sends req, has the owner approve it, fetches the
	// credential and a challenge, and returns a presentation for a job.
	approved := func(req consent.Request) string {
		t.Helper()
		token, err := consent.SignRequest(w.key, req, w.clock.Now())
		must("sign request "+req.ID, err)
		must("submit request "+req.ID, api.Check(c.SubmitConsentRequestWithResponse(ctx, apigen.ConsentRequestBody{Request: token})))
		_, err = w.vault.Approve(w.ctx, req.ID)
		must("approve "+req.ID, err)
		st, err := c.GetConsentRequestWithResponse(ctx, req.ID)
		must("get request "+req.ID, api.Check(st, err))
		ch, err := c.GetChallengeWithResponse(ctx)
		must("challenge", api.Check(ch, err))
		vp, err := consent.Present(w.key, *st.JSON200.Credential, ch.JSON200.Nonce, ch.JSON200.Audience, w.clock.Now(), 5*time.Minute)
		must("present", err)
		return vp
	}
	vp := approved(w.request(w.key, "builtin:stats@1", 3, time.Hour))
	job, err := c.SubmitJobWithResponse(ctx, apigen.JobBody{Presentation: vp, Algorithm: "builtin:stats@1"})
	must("job", api.Check(job, err))
	must("get job", api.Check(c.GetJobWithResponse(ctx, job.JSON201.Id)))
	must("receipt", api.Check(c.GetReceiptWithResponse(ctx, job.JSON201.Claim.ReceiptId)))
	must("claim", api.Check(c.GetClaimWithResponse(ctx, job.JSON201.Claim.Id)))
	must("checkpoint", api.Check(anon.GetCheckpointWithResponse(ctx)))
	must("inclusion", api.Check(anon.GetInclusionProofWithResponse(ctx, &apigen.GetInclusionProofParams{Index: 0, Size: 2})))
	must("consistency", api.Check(anon.GetConsistencyProofWithResponse(ctx, &apigen.GetConsistencyProofParams{From: 1, To: 2})))
	must("entry", api.Check(anon.GetLogEntryWithResponse(ctx, 0)))
	// A module streamed as multipart/form-data.
	module := examples.ColStats()
	mreq := w.request(w.key, compute.ModuleHash(module), 1, time.Hour)
	mreq.ID = "req-module"
	vp = approved(mreq)
	jobPart, _ := json.Marshal(apigen.JobBody{Presentation: vp, Algorithm: compute.ModuleHash(module)})
	upload, ct := multipartJob(t, [3]string{api.UploadJobPart, "application/json", string(jobPart)}, [3]string{api.UploadModulePart, "application/wasm", string(module)})
	must("streamed job", api.Check(c.SubmitJobWithBodyWithResponse(ctx, ct, strings.NewReader(upload))))
	// A training round's claim under the share rule, settled with the
	// round's Contribution credential.
	sreq := w.request(w.key, "builtin:stats@1", 1, time.Hour)
	sreq.ID, sreq.Per, sreq.Share = "req-share", consent.PerRound, consent.ShareContribution
	vp = approved(sreq)
	sjob, err := c.SubmitJobWithResponse(ctx, apigen.JobBody{Presentation: vp, Algorithm: "builtin:stats@1"})
	must("share job", api.Check(sjob, err))
	sclaim := sjob.JSON201.Claim
	contribution, err := consent.IssueContribution(w.key, consent.Contribution{ID: "urn:uuid:00000000-0000-4000-8000-000000000001",
		Subject: w.vault.DID(), Training: "t", Round: 1, Share: 0.25, Pool: consent.Money{Amount: 500, Currency: "EUR"},
		Payout: consent.Money{Amount: 125, Currency: "EUR"}, ReceiptID: sclaim.ReceiptId}, w.clock.Now())
	must("contribution", err)
	respond := func(action, contribution string) string {
		t.Helper()
		tok, err := ledger.SignClaimResponse(w.key, ledger.ClaimResponse{Requester: w.key.DID(), Vault: w.vault.DID(), ClaimID: sclaim.Id,
			ReceiptIDs: []string{sclaim.ReceiptId}, Action: action, Contribution: contribution, IssuedAt: w.clock.Now()})
		must("sign "+action, err)
		return tok
	}
	c.AcknowledgeClaimWithResponse(ctx, sclaim.Id, apigen.ClaimResponseBody{Response: respond(ledger.Acknowledge, "")})
	settled, err := c.SettleClaimWithResponse(ctx, sclaim.Id, apigen.ClaimResponseBody{Response: respond(ledger.Settle, contribution)})
	must("settle", api.Check(settled, err))
	if s := settled.JSON200; s.State != ledger.ClaimStateSettled || s.Settled == nil || *s.Settled != 125 || s.Share == nil || *s.Share != ledger.ShareContribution {
		t.Fatalf("settled claim %+v", s)
	}
	// The rotation chain, empty and then with a link.
	must("rotations", api.Check(anon.GetRotationsWithResponse(ctx)))
	_, err = w.vault.Rotate(w.ctx, []byte("pass"))
	must("rotate", err)
	rot, err := anon.GetRotationsWithResponse(ctx)
	must("rotations after a rotation", api.Check(rot, err))
	if len(rot.JSON200.Rotations) != 1 {
		t.Fatalf("%d rotations served", len(rot.JSON200.Rotations))
	}
	// Problems.
	c.GetJobWithResponse(ctx, "job_nope")
	anon.GetJobWithResponse(ctx, "job_nope")
	anon.GetInclusionProofWithResponse(ctx, &apigen.GetInclusionProofParams{Index: 9, Size: 1})
	c.SubmitJobWithResponse(ctx, apigen.JobBody{Presentation: "x", Algorithm: "builtin:stats@1"})
	c.AcknowledgeClaimWithResponse(ctx, job.JSON201.Claim.Id, apigen.ClaimResponseBody{Response: "x"})
	c.SettleClaimWithResponse(ctx, job.JSON201.Claim.Id, apigen.ClaimResponseBody{Response: "x"})
	anon.GetStatusListWithResponse(ctx, "nope")

	for _, e := range tr.errs {
		t.Error(e)
	}
	for _, want := range []string{"getHealth 200", "getCatalog 200", "getDIDDocument 404", "submitConsentRequest 201", "submitJob 201",
		"getJob 200", "getJob 401", "submitJob 201", "getJob 404", "submitJob 403", "getInclusionProof 400", "getReceipt 200", "getClaim 200", "getLogEntry 200",
		"settleClaim 200", "acknowledgeClaim 409", "settleClaim 403", "getRotations 200"} {
		if !tr.seen[want] {
			t.Errorf("the flow did not exercise %s", want)
		}
	}
}
