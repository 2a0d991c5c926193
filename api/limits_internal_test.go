package api

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/time/rate"

	"github.com/trove-project/trove"
)

func TestKeyedLimiter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	k := newKeyedLimiter(rate.Every(10*time.Second), 3, 2)
	for i := range 3 {
		if ok, _ := k.allow("a", now); !ok {
			t.Fatalf("request %d within the burst refused", i)
		}
	}
	ok, wait := k.allow("a", now)
	if ok || wait != 10*time.Second {
		t.Fatalf("over the burst: ok %v, wait %v; want refused, 10s", ok, wait)
	}
	if ok, _ := k.allow("b", now); !ok {
		t.Fatal("another key shares the first one's bucket")
	}
	// Both slots are in use and neither bucket is full: a third client is
	// refused, not let in by forgetting another.
	if ok, _ := k.allow("c", now); ok {
		t.Fatal("a third client got in while both slots are busy")
	}
	if ok, _ := k.allow("a", now.Add(10*time.Second)); !ok {
		t.Fatal("a token did not come back after the wait")
	}
	// A minute on, both buckets are full again: they are forgotten and
	// the new client gets a slot.
	if ok, _ := k.allow("c", now.Add(time.Minute)); !ok {
		t.Fatal("a new client refused after the others went quiet")
	}
	if len(k.keys) > 2 {
		t.Fatalf("%d keys remembered, cap 2", len(k.keys))
	}
}

func TestAllowRequesterSetsRetryAfter(t *testing.T) {
	s := NewServer(nil, "127.0.0.1:0", nil)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s.Now = func() time.Time { return now }
	s.SetLimits(Limits{PerRequester: rate.Every(90 * time.Second), RequesterBurst: 1})
	c := s.echo.NewContext(httptest.NewRequest("GET", "/", nil), httptest.NewRecorder())
	if err := s.allowRequester(c, "did:key:z6Mk1"); err != nil {
		t.Fatal(err)
	}
	err := s.allowRequester(c, "did:key:z6Mk1")
	if trove.ErrorCode(err) != trove.ETOOMANY || trove.ErrorReason(err) != "rate_limited" {
		t.Fatalf("second request: %v", err)
	}
	if got := c.Response().Header().Get("Retry-After"); got != "90" {
		t.Fatalf("Retry-After %q, want 90", got)
	}
	if err := s.allowRequester(c, "did:key:z6Mk2"); err != nil {
		t.Fatalf("another requester: %v", err)
	}
}

func TestClientIP(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.1:5555":             "192.0.2.1",
		"[2001:db8:1:2:3:4:5:6]:443": "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::1]:1":   "2001:db8:1:2::/64",
		"[::ffff:192.0.2.1]:80":      "192.0.2.1",
		"not an address":             "not an address",
	} {
		if got := clientIP(in); got != want {
			t.Errorf("clientIP(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestIsCanonicalPath(t *testing.T) {
	for p, want := range map[string]bool{
		"/":                                true,
		"/v1/catalog":                      true,
		"/v1/jobs/job_01J9:x.y-z~@a":       true,
		"":                                 false,
		"v1/catalog":                       false,
		"/v1//catalog":                     false,
		"/v1/catalog/":                     false,
		"/v1/./catalog":                    false,
		"/v1/jobs/../catalog":              false,
		"/v1/jobs/..":                      false,
		"/v1/jobs/%2e%2e":                  false,
		"/v1/jobs/a%2Fb":                   false,
		"/v1/jobs/a%252Fb":                 false,
		`/v1/jobs/a\b`:                     false,
		"/v1/jobs/a b":                     false,
		"/v1/jobs/é":                       false,
		"/" + strings.Repeat("a", MaxPath): false,
	} {
		if got := isCanonicalPath(p); got != want {
			t.Errorf("isCanonicalPath(%q) = %v, want %v", p, got, want)
		}
	}
}

func FuzzCanonicalPath(f *testing.F) {
	for _, p := range []string{"/v1/catalog", "/v1/jobs/../x", "/v1/jobs/%2F", "//", "/a/./b"} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if !isCanonicalPath(p) {
			return
		}
		if path.Clean(p) != p || strings.ContainsAny(p, "%\\?#") || len(p) > MaxPath {
			t.Fatalf("accepted %q, which is not canonical", p)
		}
	})
}

// rawRequest sends text on a fresh connection and returns the status line.
func rawRequest(t *testing.T, addr, text string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, text); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the answer to %q: %v", text, err)
	}
	return strings.TrimSpace(line)
}

// waitClosed reads from c until the server closes it, failing after a
// generous deadline.
func waitClosed(t *testing.T, c net.Conn, what string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, err := io.Copy(io.Discard, c)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("%s: the server kept the connection open", what)
	}
}

func openTestServer(t *testing.T, change func(*Server)) *Server {
	t.Helper()
	s := NewServer(nil, "127.0.0.1:0", nil)
	if change != nil {
		change(s)
	}
	// A route that needs no vault.
	s.echo.GET("/test/ok", func(c echo.Context) error { return c.String(http.StatusOK, "ok") })
	if err := s.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

// A client that never finishes its headers, or that goes quiet on a
// kept-alive connection, is disconnected by the server.
func TestHeaderAndIdleTimeouts(t *testing.T) {
	s := openTestServer(t, func(s *Server) {
		s.http.ReadHeaderTimeout = 200 * time.Millisecond
		s.http.IdleTimeout = 200 * time.Millisecond
	})
	addr := s.ln.Addr().String()
	slow, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	io.WriteString(slow, "GET /test/ok HTTP/1.1\r\nHost: x\r\n")
	waitClosed(t, slow, "unfinished headers")

	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	io.WriteString(idle, "GET /test/ok HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(idle), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("first request: %v", err)
	}
	waitClosed(t, idle, "idle keep-alive")
}

// Every spelling of a path other than the canonical one is refused
// before routing.
func TestPathNormalisationCannotBypassRouting(t *testing.T) {
	s := openTestServer(t, nil)
	addr := s.ln.Addr().String()
	if got := rawRequest(t, addr, "GET /test/ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); got != "HTTP/1.1 200 OK" {
		t.Fatalf("canonical path: %s", got)
	}
	for _, p := range []string{
		"/test//ok", "/test/./ok", "/x/../test/ok", "/test/%6fk", "/test%2Fok", "/test%2fok",
		"/test/%2e%2e/test/ok", "/test/%252e%252e/ok", "/test/ok/", `/test\ok`, "/test/ok%00",
		"/x/..%2Ftest/ok", "/x/%2E%2E/test/ok",
	} {
		got := rawRequest(t, addr, "GET "+p+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		if got != "HTTP/1.1 400 Bad Request" {
			t.Errorf("GET %s: %s, want 400", p, got)
		}
	}
}

// The per-address rate holds with 429 and Retry-After; the connection
// cap closes connections over it at once.
func TestPerIPLimits(t *testing.T) {
	s := openTestServer(t, func(s *Server) {
		s.SetLimits(Limits{PerIP: rate.Every(time.Hour), IPBurst: 3, ConnsPerIP: 5})
	})
	url := "http://" + s.ln.Addr().String() + "/test/ok"
	for i := range 3 {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("request %d within the burst: %s", i, resp.Status)
		}
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" || resp.Header.Get("Retry-After") == "0" ||
		resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("over the rate: %s, Retry-After %q, %s", resp.Status, resp.Header.Get("Retry-After"), resp.Header.Get("Content-Type"))
	}
	http.DefaultClient.CloseIdleConnections()

	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range 5 {
		c, err := net.Dial("tcp", s.ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	// The sixth is over the cap. The accept loop serves connections in
	// order, so once it is closed the other five were counted.
	extra, err := net.Dial("tcp", s.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	waitClosed(t, extra, "connection over the cap")
}

// While every upload slot is held by a slow body, another job is refused
// at once with 429; when the slow client hangs up its slot comes back.
func TestUploadSlots(t *testing.T) {
	s := openTestServer(t, func(s *Server) {
		s.SetLimits(Limits{Uploads: 1})
		s.echo.POST("/v1/jobs", func(c echo.Context) error {
			if _, err := io.Copy(io.Discard, c.Request().Body); err != nil {
				return err
			}
			return c.NoContent(http.StatusNoContent)
		})
	})
	addr := s.ln.Addr().String()
	slow, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(slow, "POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n{\"presentation\":\"")
	post := func() string {
		return rawRequest(t, addr, "POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
	}
	deadline := time.Now().Add(20 * time.Second)
	for post() != "HTTP/1.1 429 Too Many Requests" {
		if time.Now().After(deadline) {
			t.Fatal("a second upload was never refused while the only slot was held")
		}
		time.Sleep(5 * time.Millisecond)
	}
	slow.Close()
	for post() != "HTTP/1.1 204 No Content" {
		if time.Now().After(deadline) {
			t.Fatal("the slot never came back after the slow client hung up")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
