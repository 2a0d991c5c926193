package api

import (
	"errors"
	"net/http"
	"testing"

	"github.com/trove-project/trove"
)

// fakeAnswer is a generated-client answer made up by the fuzzer.
type fakeAnswer struct {
	status int
	ct     string
	body   []byte
}

func (f fakeAnswer) GetBody() []byte     { return f.body }
func (f fakeAnswer) StatusCode() int     { return f.status }
func (f fakeAnswer) Status() string      { return http.StatusText(f.status) }
func (f fakeAnswer) ContentType() string { return f.ct }

// Whatever a vault answers, Check gives nil for a success and otherwise a
// *trove.Error with one of trove's codes and a bounded message.
func FuzzCheck(f *testing.F) {
	f.Add(404, "application/problem+json", []byte(`{"type":"https://trove.dev/problems/not_found","title":"Not Found","status":404}`))
	f.Add(429, "application/problem+json", []byte(`{"type":"https://example.com/x","detail":"`+string(make([]byte, 100))+`"}`))
	f.Add(500, "text/html", []byte("<html>"))
	f.Add(200, "application/json", []byte(`{}`))
	f.Fuzz(func(t *testing.T, status int, ct string, body []byte) {
		err := Check(fakeAnswer{status, ct, body}, nil)
		if status >= 200 && status < 300 {
			if err != nil {
				t.Fatalf("success %d gave %v", status, err)
			}
			return
		}
		var te *trove.Error
		if !errors.As(err, &te) {
			t.Fatalf("status %d gave %v, not a *trove.Error", status, err)
		}
		if !knownCode(te.Code) {
			t.Fatalf("unknown code %q", te.Code)
		}
		if len(te.Message) > maxProblemSize+64 {
			t.Fatalf("a message of %d bytes", len(te.Message))
		}
	})
}
