package webtest

import (
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/trove-project/trove/did"
)

// Addr returns a 127.0.0.1 address with a port free at the time of the
// call, for a server whose did:web names its port before it listens. The
// port is reserved by listening and closing: another process could take
// it in between, which loopback port allocation makes unlikely.
func Addr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		tb.Fatal(err)
	}
	return addr
}

// DID returns the did:web of a loopback host:port.
func DID(tb testing.TB, hostport string) string {
	tb.Helper()
	id, err := did.WebDID(hostport)
	if err != nil {
		tb.Fatal(err)
	}
	return id
}

// Serve serves what handler answers, for the did:web of its own loopback
// address (given to handler), until the test ends, and returns that
// did:web.
func Serve(tb testing.TB, handler func(id string) http.HandlerFunc) string {
	tb.Helper()
	srv := httptest.NewUnstartedServer(nil)
	id := DID(tb, srv.Listener.Addr().String())
	srv.Config.Handler = handler(id)
	srv.Start()
	tb.Cleanup(srv.Close)
	return id
}
