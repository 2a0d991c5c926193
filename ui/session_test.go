package ui_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/trove-project/trove/ui"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func get(t *testing.T, c *http.Client, u string) int {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestLogoutEndsTheSession(t *testing.T) {
	w := newWorld(t)
	c, csrf := w.httpLogin()
	if got := get(t, c, w.ui.URL()+"/"); got != http.StatusOK {
		t.Fatalf("signed in: %d", got)
	}
	resp := postForm(t, c, w.ui.URL()+"/logout", url.Values{"csrf": {csrf}}, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("logout: %s", resp.Status)
	}
	if got := get(t, c, w.ui.URL()+"/"); got != http.StatusUnauthorized {
		t.Fatalf("after logout: %d, want 401", got)
	}
}

func TestSessionExpires(t *testing.T) {
	w := newWorld(t)
	clk := &clock{t: time.Now()}
	s, err := ui.NewServer(w.vault, ui.Config{Addr: "127.0.0.1:0", SessionTTL: time.Hour, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Open(); err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	if got := get(t, c, s.LoginLink()); got != http.StatusOK {
		t.Fatalf("login: %d", got)
	}
	clk.Advance(59 * time.Minute)
	if got := get(t, c, s.URL()+"/consents"); got != http.StatusOK {
		t.Fatalf("within the session: %d", got)
	}
	clk.Advance(time.Minute)
	if got := get(t, c, s.URL()+"/consents"); got != http.StatusUnauthorized {
		t.Fatalf("after the session ended: %d, want 401", got)
	}
}

// selfSigned returns a TLS configuration with a certificate for 127.0.0.1.
func selfSigned(t *testing.T) (*tls.Config, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "trove test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, pool
}

func TestSessionCookieIsSecureUnderTLS(t *testing.T) {
	w := newWorld(t)
	cfg, pool := selfSigned(t)
	s, err := ui.NewServer(w.vault, ui.Config{Addr: "127.0.0.1:0", TLS: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Open(); err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	c := &http.Client{
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := c.Get(s.LoginLink())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var secure bool
	for _, ck := range resp.Cookies() {
		if ck.Name == ui.SessionCookie {
			secure = ck.Secure && ck.HttpOnly && ck.SameSite == http.SameSiteStrictMode
		}
	}
	if resp.StatusCode != http.StatusSeeOther || !secure {
		t.Fatalf("login over TLS: %s, cookies %v", resp.Status, resp.Cookies())
	}
}
