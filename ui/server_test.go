package ui_test

import (
	"bytes"
	"context"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trove-project/trove"
	"github.com/trove-project/trove/ledger"
	"github.com/trove-project/trove/ui"
	"github.com/trove-project/trove/vault"
)

func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	w := newWorld(t)
	c, _ := w.httpLogin()
	for _, path := range []string{"/", "/activity", "/glossary", "/static/style.css", "/static/app.js", "/nowhere", "/login/not-a-token"} {
		resp, err := c.Get(w.ui.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		h := resp.Header
		csp := h.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "form-action 'self'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %q", path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "http") {
			t.Errorf("%s: CSP %q allows inline code or another site", path, csp)
		}
		if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s: nosniff %q, X-Frame-Options %q", path, h.Get("X-Content-Type-Options"), h.Get("X-Frame-Options"))
		}
	}
}

func TestNoInlineScriptOrStyleInPages(t *testing.T) {
	w := newWorld(t)
	w.ask()
	c, _ := w.httpLogin()
	for _, path := range []string{"/", "/requests", "/consents", "/activity", "/activity/0", "/earnings", "/datasets", "/glossary", "/results", "/runs", "/datasets/breast_cancer/privacy", "/rules"} {
		resp, err := c.Get(w.ui.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %s", path, resp.Status)
		}
		page := string(b)
		for _, bad := range []string{"<script>", "style=", "<style", " onclick=", " onload=", "javascript:"} {
			if strings.Contains(page, bad) {
				t.Errorf("%s holds %q", path, bad)
			}
		}
	}
}

func TestSessionCookieAttributes(t *testing.T) {
	w := newWorld(t)
	nc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := nc.Get(w.ui.LoginLink())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %s", resp.Status)
	}
	var sc *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == ui.SessionCookie {
			sc = c
		}
	}
	if sc == nil || !sc.HttpOnly || sc.SameSite != http.SameSiteStrictMode || sc.Path != "/" || len(sc.Value) < 40 {
		t.Fatalf("session cookie %+v", sc)
	}
	if sc.Secure {
		t.Fatalf("a cookie over plain HTTP on loopback is marked Secure; the browser would drop it")
	}
}

func TestLoginIsLoggedAndLinkFileRotates(t *testing.T) {
	w := newWorld(t)
	file := filepath.Join(w.vault.Home(), ui.LinkFileName)
	st, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("link file mode %v, want 0600", st.Mode().Perm())
	}
	first, _ := os.ReadFile(file)
	if strings.TrimSpace(string(first)) != w.ui.LoginLink() {
		t.Fatalf("link file %q, server's link %q", first, w.ui.LoginLink())
	}
	w.httpLogin()
	second, _ := os.ReadFile(file)
	if bytes.Equal(first, second) || strings.TrimSpace(string(second)) != w.ui.LoginLink() {
		t.Fatalf("after a login the link file still holds the used link")
	}
	es, err := w.vault.LogEntries(w.ctx, vault.LogFilter{Type: ledger.OwnerLogin})
	if err != nil || len(es) != 1 {
		t.Fatalf("owner.login entries: %v, %v", es, err)
	}
	// The fresh link works, once.
	w.httpLogin()
	if err := w.ui.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Fatalf("the link file outlives the server: %v", err)
	}
}

func TestStateChangesNeedTheCSRFToken(t *testing.T) {
	w := newWorld(t)
	id := w.ask()
	c, csrf := w.httpLogin()
	approve := w.ui.URL() + "/requests/" + id + "/approve"
	cases := []struct {
		name   string
		form   url.Values
		header http.Header
	}{
		{"no token", url.Values{}, nil},
		{"empty token", url.Values{"csrf": {""}}, nil},
		{"wrong token", url.Values{"csrf": {strings.Repeat("A", len(csrf))}}, nil},
		{"token with a byte changed", url.Values{"csrf": {csrf[:len(csrf)-1] + "x"}}, nil},
		{"right token from another origin", url.Values{"csrf": {csrf}}, http.Header{"Origin": {"http://127.0.0.1:1"}}},
		{"right token, cross-site fetch", url.Values{"csrf": {csrf}}, http.Header{"Sec-Fetch-Site": {"same-site"}}},
	}
	for _, tc := range cases {
		resp := postForm(t, c, approve, tc.form, tc.header)
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s: %s, want 403", tc.name, resp.Status)
		}
	}
	// Without a session the token alone does nothing either.
	resp := postForm(t, http.DefaultClient, approve, url.Values{"csrf": {csrf}}, nil)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no session: %s, want 401", resp.Status)
	}
	if r, err := w.vault.ConsentRequest(w.ctx, id); err != nil || r.State != vault.Pending {
		t.Fatalf("a refused POST changed the request: %+v, %v", r, err)
	}
	resp = postForm(t, c, approve, url.Values{"csrf": {csrf}}, http.Header{"Origin": {w.ui.URL()}, "Sec-Fetch-Site": {"same-origin"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("with the token: %s, want 303", resp.Status)
	}
	if r, err := w.vault.ConsentRequest(w.ctx, id); err != nil || r.State != vault.Approved {
		t.Fatalf("after an approval with the token: %+v, %v", r, err)
	}
	// A GET never changes state.
	resp, err := c.Get(w.ui.URL() + "/requests/" + id + "/deny")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode < 400 {
		t.Fatalf("GET of a POST route: %s", resp.Status)
	}
	if r, err := w.vault.ConsentRequest(w.ctx, id); err != nil || r.State != vault.Approved {
		t.Fatalf("a GET changed the request: %+v, %v", r, err)
	}
}

func TestUploadFormNeedsTheTokenFirst(t *testing.T) {
	w := newWorld(t)
	c, csrf := w.httpLogin()
	upload := func(fields [][2]string) int {
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		for _, f := range fields {
			if f[0] == "file" {
				fw, _ := mw.CreateFormFile("file", "x.csv")
				fw.Write([]byte(f[1]))
			} else {
				mw.WriteField(f[0], f[1])
			}
		}
		mw.Close()
		req, _ := http.NewRequest(http.MethodPost, w.ui.URL()+"/datasets", &body)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		nc := *c
		nc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		resp, err := nc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	csv := "a,b\n1,2\n"
	if got := upload([][2]string{{"name", "x"}, {"csrf", csrf}, {"file", csv}}); got != http.StatusForbidden {
		t.Errorf("token after the name: %d, want 403", got)
	}
	if got := upload([][2]string{{"name", "x"}, {"file", csv}}); got != http.StatusForbidden {
		t.Errorf("no token: %d, want 403", got)
	}
	if got := upload([][2]string{{"csrf", csrf}, {"name", "../x"}, {"file", csv}}); got != http.StatusBadRequest {
		t.Errorf("bad name: %d, want 400", got)
	}
	if got := upload([][2]string{{"csrf", csrf}, {"name", "x"}, {"file", "a,b\n1\n"}}); got != http.StatusBadRequest {
		t.Errorf("bad CSV: %d, want 400", got)
	}
	if got := upload([][2]string{{"csrf", csrf}, {"name", "x"}, {"file", csv}}); got != http.StatusSeeOther {
		t.Errorf("good upload: %d, want 303", got)
	}
	if _, err := w.vault.Dataset(w.ctx, "x"); err != nil {
		t.Fatal(err)
	}
}

func TestUILoopbackOnlyUnlessAllowed(t *testing.T) {
	w := newWorld(t)
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0", "192.0.2.1:8471", "example.com:8471"} {
		s, err := ui.NewServer(w.vault, ui.Config{Addr: addr})
		if err != nil {
			t.Fatal(err)
		}
		err = s.Open()
		if trove.ErrorReason(err) != "ui_not_loopback" {
			t.Errorf("Open on %s: %v, want a refusal", addr, err)
			if err == nil {
				s.Close(context.Background())
			}
		}
	}
	for _, addr := range []string{"127.0.0.1:0", "localhost:0"} {
		if err := ui.CheckAddr(addr, false); err != nil {
			t.Errorf("%s: %v", addr, err)
		}
	}
	s, err := ui.NewServer(w.vault, ui.Config{Addr: "0.0.0.0:0", AllowRemote: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Open(); err != nil {
		t.Fatalf("with AllowRemote: %v", err)
	}
	s.Close(context.Background())
}

func TestForeignHostHeaderRefused(t *testing.T) {
	w := newWorld(t)
	req, _ := http.NewRequest(http.MethodGet, w.ui.LoginLink(), nil)
	req.Host = "attacker.example"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMisdirectedRequest {
		t.Fatalf("a rebound Host got %s", resp.Status)
	}
	// The link was not burnt by the refused request.
	w.httpLogin()
}
