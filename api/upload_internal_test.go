package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"net/http/httptest"
	"testing"

	"github.com/trove-project/trove"
	"github.com/trove-project/trove/vault"
)

// runOnly is a vault that only runs jobs, recording what it was given.
type runOnly struct {
	Vault
	got *vault.JobRequest
}

func (r *runOnly) RunJob(_ context.Context, jr vault.JobRequest) (*vault.Job, error) {
	r.got = &jr
	return &vault.Job{ID: "job_1"}, nil
}

// Whatever body arrives as a job upload, the handler answers a trove
// error or runs a job whose module is the module part, whole.
func FuzzJobUpload(f *testing.F) {
	const boundary = "b0undary"
	good := "--b0undary\r\nContent-Disposition: form-data; name=\"job\"\r\n\r\n{\"presentation\":\"p\",\"algorithm\":\"a\"}\r\n" +
		"--b0undary\r\nContent-Disposition: form-data; name=\"module\"\r\n\r\n\x00asm\x01\x00\x00\x00\r\n--b0undary--\r\n"
	f.Add([]byte(good))
	f.Add([]byte("--b0undary\r\n\r\n"))
	f.Add([]byte("--b0undary--\r\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		v := &runOnly{}
		s := NewServer(v, "127.0.0.1:0", nil)
		req := httptest.NewRequest("POST", "/v1/jobs", bytes.NewReader(body))
		req.Header.Set("Content-Type", "multipart/form-data; boundary="+boundary)
		c := s.echo.NewContext(req, httptest.NewRecorder())
		err := s.submitJobUpload(c)
		if err != nil {
			var te *trove.Error
			if !errors.As(err, &te) || (te.Code != trove.EINVALID && te.Code != trove.ETOOLARGE) {
				t.Fatalf("error %v", err)
			}
			if v.got != nil {
				t.Fatal("a job ran and the upload failed")
			}
			return
		}
		if v.got == nil || len(v.got.Module) > MaxJobBody {
			t.Fatalf("accepted without running a job, or an oversized module")
		}
	})
}

// A streamed body is read through to the end only when it matches the
// digest it claims.
func TestDigestReader(t *testing.T) {
	body := []byte("the module's bytes")
	sum := sha256.Sum256(body)
	want := "sha-256=:" + base64.StdEncoding.EncodeToString(sum[:]) + ":"
	got, err := io.ReadAll(&digestReader{r: io.NopCloser(bytes.NewReader(body)), h: sha256.New(), want: want})
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("matching body: %q, %v", got, err)
	}
	_, err = io.ReadAll(&digestReader{r: io.NopCloser(bytes.NewReader(append(body, '!'))), h: sha256.New(), want: want})
	if !errors.Is(err, errDigestMismatch) {
		t.Fatalf("other body: %v", err)
	}
}
