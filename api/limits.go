package api

import (
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/time/rate"

	"github.com/trove-project/trove"
)

// Limits bounds what one client may ask of a vault. The zero value of a
// field means its default (see DefaultLimits).
type Limits struct {
	// PerIP is the sustained rate of requests from one address (an IPv6
	// address counts by its /64), with bursts of IPBurst.
	PerIP   rate.Limit
	IPBurst int
	// PerRequester is the sustained rate of requests signed by one
	// requester DID, with bursts of RequesterBurst.
	PerRequester   rate.Limit
	RequesterBurst int
	// ConnsPerIP caps the open connections from one address: more are
	// closed as soon as they are accepted.
	ConnsPerIP int
	// Uploads caps the job bodies (which may carry a module) read at
	// once: each is held in memory up to MaxJobBody until the job runs, so
	// this bounds that memory. A job over the cap gets 429.
	Uploads int
	// MaxClients caps how many addresses or requesters the limiter
	// remembers at once; when every slot is in use a new client is
	// refused (429) rather than an old one forgotten.
	MaxClients int
}

// DefaultLimits returns limits that suit a vault on a home connection.
func DefaultLimits() Limits {
	return Limits{PerIP: 100, IPBurst: 200, PerRequester: 50, RequesterBurst: 100, ConnsPerIP: 64, Uploads: 4, MaxClients: 1 << 14}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.PerIP == 0 {
		l.PerIP = d.PerIP
	}
	if l.IPBurst == 0 {
		l.IPBurst = d.IPBurst
	}
	if l.PerRequester == 0 {
		l.PerRequester = d.PerRequester
	}
	if l.RequesterBurst == 0 {
		l.RequesterBurst = d.RequesterBurst
	}
	if l.ConnsPerIP == 0 {
		l.ConnsPerIP = d.ConnsPerIP
	}
	if l.Uploads == 0 {
		l.Uploads = d.Uploads
	}
	if l.MaxClients == 0 {
		l.MaxClients = d.MaxClients
	}
	return l
}

// keyedLimiter is a token bucket per key, remembering at most max keys.
type keyedLimiter struct {
	mu    sync.Mutex
	every rate.Limit
	burst int
	max   int
	keys  map[string]*rate.Limiter
}

func newKeyedLimiter(every rate.Limit, burst, max int) *keyedLimiter {
	return &keyedLimiter{every: every, burst: burst, max: max, keys: map[string]*rate.Limiter{}}
}

// allow takes a token for key at now; if there is none it returns how
// long until there is one.
func (k *keyedLimiter) allow(key string, now time.Time) (bool, time.Duration) {
	k.mu.Lock()
	defer k.mu.Unlock()
	lim, ok := k.keys[key]
	if !ok {
		if len(k.keys) >= k.max {
			k.sweep(now)
		}
		if len(k.keys) >= k.max {
			return false, time.Second
		}
		lim = rate.NewLimiter(k.every, k.burst)
		k.keys[key] = lim
	}
	r := lim.ReserveN(now, 1)
	if !r.OK() {
		return false, time.Second
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// sweep forgets the keys whose bucket is full again: a fresh bucket is the
// same.
func (k *keyedLimiter) sweep(now time.Time) {
	for key, lim := range k.keys {
		if lim.TokensAt(now) >= float64(k.burst) {
			delete(k.keys, key)
		}
	}
}

// tooMany is the problem a client over its rate gets, with how long to
// wait in Retry-After (whole seconds, at least one).
func tooMany(c echo.Context, wait time.Duration) error {
	secs := int(math.Ceil(wait.Seconds()))
	if secs < 1 {
		secs = 1
	}
	c.Response().Header().Set("Retry-After", strconv.Itoa(secs))
	return &trove.Error{Code: trove.ETOOMANY, Reason: "rate_limited", Message: "too many requests; retry later"}
}

// clientIP is the address a request came from, as the connection says
// (never a header a client can set); IPv6 addresses count by their /64.
func clientIP(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return host
	}
	if ip.To4() == nil {
		return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
	}
	return ip.String()
}

// limitIP applies the per-address rate to every request.
func (s *Server) limitIP(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if ok, wait := s.perIP.allow(clientIP(c.Request().RemoteAddr), s.now()); !ok {
			return tooMany(c, wait)
		}
		return next(c)
	}
}

// limitRequester applies the per-requester rate to a request that
// authenticate has authenticated.
func (s *Server) limitRequester(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if err := s.allowRequester(c, requesterOf(c)); err != nil {
			return err
		}
		return next(c)
	}
}

// allowRequester applies the per-requester rate to a request
// authenticated as the requester did.
func (s *Server) allowRequester(c echo.Context, did string) error {
	if ok, wait := s.perRequester.allow(did, s.now()); !ok {
		return tooMany(c, wait)
	}
	return nil
}

// canonicalPath refuses, before routing, any path that is not in its one
// canonical form: no percent-encoding at all (so no encoded slash, dot or
// double encoding), no backslash, no empty, "." or ".." segment, and only
// the characters ids are made of. Routing then cannot be steered by how a
// path is spelled.
func canonicalPath(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		raw := r.URL.EscapedPath()
		if r.URL.RawPath != "" || raw != r.URL.Path || !isCanonicalPath(raw) {
			return &trove.Error{Code: trove.EINVALID, Reason: "bad_path", Message: "the path is not in canonical form"}
		}
		return next(c)
	}
}

// MaxPath bounds the length of a request path.
const MaxPath = 512

func isCanonicalPath(p string) bool {
	if len(p) == 0 || len(p) > MaxPath || p[0] != '/' {
		return false
	}
	if p == "/" {
		return true
	}
	for _, seg := range strings.Split(p[1:], "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
		for _, ch := range seg {
			ok := ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || strings.ContainsRune("._:-~@", ch)
			if !ok {
				return false
			}
		}
	}
	return true
}

// connLimitListener closes, as soon as it is accepted, a connection from
// an address that already has max open.
type connLimitListener struct {
	net.Listener
	max  int
	mu   sync.Mutex
	open map[string]int
}

func limitConns(ln net.Listener, max int) *connLimitListener {
	return &connLimitListener{Listener: ln, max: max, open: map[string]int{}}
}

// Accept returns the next connection within its address's cap.
func (l *connLimitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := clientIP(c.RemoteAddr().String())
		l.mu.Lock()
		over := l.open[ip] >= l.max
		if !over {
			l.open[ip]++
		}
		l.mu.Unlock()
		if over {
			c.Close()
			continue
		}
		return &countedConn{Conn: c, l: l, ip: ip}, nil
	}
}

type countedConn struct {
	net.Conn
	l    *connLimitListener
	ip   string
	once sync.Once
}

// Close closes the connection and frees its slot.
func (c *countedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		if c.l.open[c.ip]--; c.l.open[c.ip] <= 0 {
			delete(c.l.open, c.ip)
		}
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}

// uploadSlot holds one of the job-upload slots while a job's body is read
// and the job runs; when all are taken the job is refused at once.
func (s *Server) uploadSlot(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if r.Method != http.MethodPost || r.URL.Path != "/v1/jobs" {
			return next(c)
		}
		select {
		case s.uploads <- struct{}{}:
			defer func() { <-s.uploads }()
			return next(c)
		default:
			c.Response().Header().Set("Retry-After", strconv.Itoa(RetryAfterSeconds))
			return &trove.Error{Code: trove.ETOOMANY, Reason: "busy", Message: "the vault is receiving all the jobs it can; try again later"}
		}
	}
}
