package ui

import (
	"context"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trove-project/trove/vault"
)

// FuzzPost sends arbitrary bodies to a state-changing route of a signed-in
// session: without the session's token, the handler must never run, and
// nothing may panic.
func FuzzPost(f *testing.F) {
	ctx := context.Background()
	v, err := vault.Create(ctx, vault.Config{Home: filepath.Join(f.TempDir(), "vault"), WorkFactor: 10}, []byte("pass"))
	if err != nil {
		f.Fatal(err)
	}
	defer v.Close()
	s, err := NewServer(v, Config{Addr: "127.0.0.1:0"})
	if err != nil {
		f.Fatal(err)
	}
	const sid = "session-id-for-the-fuzz-test"
	ss := &session{csrf: "the-real-token-is-never-in-the-corpus", expires: s.cfg.Now().Add(s.cfg.SessionTTL)}
	s.sessions[hashToken(sid)] = ss
	reached := false
	h := s.post(func(http.ResponseWriter, *http.Request, *session, *multipart.Reader) { reached = true })

	f.Add("application/x-www-form-urlencoded", "csrf=guess")
	f.Add("application/x-www-form-urlencoded", "csrf=&csrf=the-real")
	f.Add("multipart/form-data; boundary=xx", "--xx\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\nguess\r\n--xx--\r\n")
	f.Add("multipart/form-data", "")
	f.Add("text/plain", "csrf=guess")
	f.Add("application/x-www-form-urlencoded", strings.Repeat("a=b&", 20000))
	f.Fuzz(func(t *testing.T, contentType, body string) {
		reached = false
		r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1/requests/x/approve", strings.NewReader(body))
		r.Header.Set("Content-Type", contentType)
		r.AddCookie(&http.Cookie{Name: SessionCookie, Value: sid})
		w := httptest.NewRecorder()
		h(w, r)
		if reached {
			t.Fatalf("the handler ran without the token: %q %q", contentType, body)
		}
		if w.Code != http.StatusForbidden && w.Code != http.StatusRequestEntityTooLarge {
			t.Fatalf("status %d", w.Code)
		}
	})
}
