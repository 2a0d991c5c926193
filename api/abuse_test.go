package api_test

import (
	"bufio"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/trove-project/trove"
	"github.com/trove-project/trove/api"
	"github.com/trove-project/trove/consent"
	"github.com/trove-project/trove/did"
)

// A request for a dataset the vault does not offer gets one refusal,
// word for word the same whatever it names.
func TestUnknownDatasetRefusalsAreAlike(t *testing.T) {
	w := newWorld(t)
	var first string
	for i, name := range []string{"salaries", "does-not-exist"} {
		req := w.request(w.key, "builtin:stats@1", 1, time.Hour)
		req.ID, req.Dataset = fmt.Sprintf("req-unknown-%d", i), name
		token, err := consent.SignRequest(w.key, req, w.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		_, err = w.client.SubmitConsentRequest(w.ctx, token)
		if trove.ErrorCode(err) != trove.EFORBIDDEN || trove.ErrorReason(err) != "not_offered" {
			t.Fatalf("request for %s: %v", name, err)
		}
		if strings.Contains(err.Error(), name) {
			t.Fatalf("the refusal names the dataset: %v", err)
		}
		if first == "" {
			first = err.Error()
		} else if err.Error() != first {
			t.Fatalf("refusals differ: %q and %q", first, err.Error())
		}
	}
}

// The server keeps serving after garbage, a client that hangs up in the
// middle of an upload, and many idle connections.
func TestServesUnderAbuse(t *testing.T) {
	w := newWorld(t)
	addr := strings.TrimPrefix(w.srv.URL(), "http://")
	healthy := func(when string) {
		t.Helper()
		resp, err := http.Get(w.srv.URL() + "/healthz")
		if err != nil {
			t.Fatalf("%s: %v", when, err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %s", when, resp.Status)
		}
	}
	dial := func() net.Conn {
		t.Helper()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	for _, garbage := range []string{
		"\x00\x01\x02\xff\xfe garbage\r\n\r\n",
		"GET / HTTP/9.9\r\n\r\n",
		"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
		"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"GET /v1/catalog HTTP/1.1\r\nHost: x\r\nX: " + strings.Repeat("a", 64<<10) + "\r\n\r\n",
	} {
		c := dial()
		io.WriteString(c, garbage)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		line, _ := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if strings.HasPrefix(line, "HTTP/1.1 2") || strings.HasPrefix(line, "HTTP/1.1 500") {
			t.Errorf("garbage %.30q answered %q", garbage, line)
		}
	}
	healthy("after garbage")

	// Half an upload, then the client hangs up.
	c := dial()
	fmt.Fprintf(c, "POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{\"presentation\":\"", 10<<20)
	c.Write([]byte(strings.Repeat("A", 256<<10)))
	c.Close()
	healthy("after a hung-up upload")

	// A thousand idle connections from twenty addresses (127.0.0.2 to
	// .21, each under the per-address cap) and two hundred from one more
	// (over it: all but the cap are closed at once) do not stop service.
	var idle []net.Conn
	for i := range 1200 {
		ip := net.IPv4(127, 0, 0, byte(2+min(i/50, 20)))
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("connection %d from %s: %v", i, ip, err)
		}
		idle = append(idle, c)
	}
	healthy("with 1200 idle connections open")
	for _, c := range idle {
		c.Close()
	}
	healthy("after the idle connections closed")
}

// Each requester has its own rate: over it, 429 with Retry-After; another
// requester is not held back.
func TestPerRequesterRate(t *testing.T) {
	w := newWorld(t)
	srv := api.NewServer(w.vault, "127.0.0.1:0", nil)
	srv.Now = w.clock.Now
	srv.SetLimits(api.Limits{PerRequester: rate.Every(time.Hour), RequesterBurst: 2})
	if err := srv.Open(); err != nil {
		t.Fatal(err)
	}
	defer srv.Close(w.ctx)
	c, err := api.NewClient(srv.URL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	me := c.As(w.key, w.clock.Now, nil)
	for i := range 2 {
		if _, err := me.Challenge(w.ctx); err != nil {
			t.Fatalf("request %d within the burst: %v", i, err)
		}
	}
	if _, err := me.Challenge(w.ctx); trove.ErrorCode(err) != trove.ETOOMANY || trove.ErrorReason(err) != "rate_limited" {
		t.Fatalf("over the rate: %v", err)
	}
	other, err := did.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.As(other, w.clock.Now, nil).Challenge(w.ctx); err != nil {
		t.Fatalf("another requester: %v", err)
	}
	// The header a client waits by.
	req, err := http.NewRequest("GET", srv.URL()+"/v1/challenge", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := api.SignRequest(req, nil, w.key, w.clock.Now(), w.nonce()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "3600" {
		t.Fatalf("over the rate: %s, Retry-After %q", resp.Status, resp.Header.Get("Retry-After"))
	}
}
