package api_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"testing"
	"time"

	"github.com/trove-project/trove/api"
	"github.com/trove-project/trove/compute"
	"github.com/trove-project/trove/examples"
	"github.com/trove-project/trove/vault"
)

// multipartJob builds a job upload from parts given as name, content
// type and bytes.
func multipartJob(t *testing.T, parts ...[3]string) (string, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, p := range parts {
		w, err := mw.CreatePart(textproto.MIMEHeader{"Content-Disposition": {`form-data; name="` + p[0] + `"`}, "Content-Type": {p[1]}})
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, p[2])
	}
	mw.Close()
	return buf.String(), mw.FormDataContentType()
}

// postSigned signs body as the world's requester and posts it with
// contentType; tamper, if set, changes the body after signing.
func (w *world) postSigned(body, contentType string, tamper func(string) string) (*http.Response, *api.Problem) {
	w.t.Helper()
	req := w.signedRequest("POST", "/v1/jobs", body, w.key, w.clock.Now(), w.nonce())
	req.Header.Set("Content-Type", contentType)
	if tamper != nil {
		b := tamper(body)
		req.Body, req.ContentLength = io.NopCloser(bytes.NewReader([]byte(b))), int64(len(b))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.Header.Get("Content-Type") != "application/problem+json" {
		return resp, nil
	}
	var p api.Problem
	if err := json.Unmarshal(b, &p); err != nil {
		w.t.Fatal(err)
	}
	return resp, &p
}

// A module streamed as multipart runs like one sent base64 in JSON; a
// body changed after signing is refused at its end, before the job runs;
// malformed uploads are refused.
func TestStreamedModuleUpload(t *testing.T) {
	w := newWorld(t)
	module := examples.ColStats()
	h := compute.ModuleHash(module)
	cred := w.consent(h, 5, time.Hour)
	jobJSON := func() string {
		b, _ := json.Marshal(api.JobBody{Presentation: w.present(w.key, cred), Algorithm: h})
		return string(b)
	}

	body, ct := multipartJob(t, [3]string{api.UploadJobPart, "application/json", jobJSON()}, [3]string{api.UploadModulePart, "application/wasm", string(module)})
	if resp, p := w.postSigned(body, ct, nil); resp.StatusCode != 201 {
		t.Fatalf("streamed upload: %d %+v", resp.StatusCode, p)
	}

	// The same module base64 in JSON still runs.
	b, _ := json.Marshal(api.JobBody{Presentation: w.present(w.key, cred), Algorithm: h, Module: module})
	if resp, p := w.postSigned(string(b), "application/json", nil); resp.StatusCode != 201 {
		t.Fatalf("JSON upload: %d %+v", resp.StatusCode, p)
	}

	// One byte of the module changed after signing.
	body, ct = multipartJob(t, [3]string{api.UploadJobPart, "application/json", jobJSON()}, [3]string{api.UploadModulePart, "application/wasm", string(module)})
	before, err := w.vault.Jobs(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(s string) string { b := []byte(s); b[len(b)/2] ^= 1; return string(b) }
	if resp, p := w.postSigned(body, ct, flip); resp.StatusCode != 401 || p == nil || p.Reason != "bad_request_signature" {
		t.Fatalf("tampered upload: %d %+v", resp.StatusCode, p)
	}
	after, err := w.vault.Jobs(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Fatal("a tampered upload ran a job")
	}

	mod := string(module)
	for name, parts := range map[string][][3]string{
		"module first":    {{api.UploadModulePart, "application/wasm", mod}, {api.UploadJobPart, "application/json", jobJSON()}},
		"no module":       {{api.UploadJobPart, "application/json", jobJSON()}},
		"three parts":     {{api.UploadJobPart, "application/json", jobJSON()}, {api.UploadModulePart, "application/wasm", mod}, {"extra", "text/plain", "x"}},
		"unknown field":   {{api.UploadJobPart, "application/json", `{"presentation":"x","algorithm":"` + h + `","extra":1}`}, {api.UploadModulePart, "application/wasm", mod}},
		"module in json":  {{api.UploadJobPart, "application/json", `{"presentation":"x","algorithm":"` + h + `","module":"` + base64.StdEncoding.EncodeToString([]byte("AA")) + `"}`}, {api.UploadModulePart, "application/wasm", mod}},
		"not json at all": {{api.UploadJobPart, "application/json", `{`}, {api.UploadModulePart, "application/wasm", mod}},
	} {
		body, ct := multipartJob(t, parts...)
		if resp, p := w.postSigned(body, ct, nil); resp.StatusCode != 400 || p == nil || p.Type != api.ProblemTypeBase+"invalid" {
			t.Errorf("%s: %d %+v", name, resp.StatusCode, p)
		}
	}
	if resp, p := w.postSigned("--x\r\n", "multipart/form-data", nil); resp.StatusCode != 400 {
		t.Errorf("no boundary: %d %+v", resp.StatusCode, p)
	}
	jobs, err := w.vault.Jobs(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 2 || jobs[0].State != vault.JobSucceeded || jobs[1].State != vault.JobSucceeded {
		t.Fatalf("jobs: %+v", jobs)
	}
}
