package api

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/trove-project/trove"
	"github.com/trove-project/trove/did"
)

// Requester authentication: HTTP Message Signatures (RFC 9421) with
// Ed25519, the key named by a DID URL. A signed request carries
//
//	Content-Digest: sha-256=:<base64 of the body's SHA-256>:
//	Signature-Input: trove=("@method" "@authority" "@path" "@query" "content-digest");created=<unix>;keyid="<did>#<key>";alg="ed25519";nonce="<random>";tag="trove-requester"
//	Signature: trove=:<base64 Ed25519 signature of the signature base>:
//
// The vault accepts a signature whose created time is within SigWindow of
// its clock and whose (keyid, nonce) it has not seen inside that window:
// a captured request cannot be replayed, nor its body swapped.
const (
	SigLabel     = "trove"
	SigTag       = "trove-requester"
	SigWindow    = 5 * time.Minute
	maxSigHeader = 2048
	minNonceLen  = 16
	maxSigNonce  = 128
)

// sigComponents are the components every signature covers, in the order
// the client signs them.
var sigComponents = []string{"@method", "@authority", "@path", "@query", "content-digest"}

// Signer signs requests for a requester's DID. *did.Key satisfies it.
type Signer interface {
	DID() string
	KeyID() string
	Sign(msg []byte) []byte
}

// contentDigest returns the RFC 9530 Content-Digest of body.
func contentDigest(body []byte) string {
	sum := sha256.Sum256(body)
	return "sha-256=:" + base64.StdEncoding.EncodeToString(sum[:]) + ":"
}

// sigParams is a parsed Signature-Input member.
type sigParams struct {
	components []string
	created    int64
	keyID      string
	alg        string
	nonce      string
	tag        string
	raw        string // the serialized inner list with its parameters, as signed
}

// serialize writes the inner list and parameters as RFC 9421 signs them.
func (p *sigParams) serialize() string {
	var b strings.Builder
	b.WriteByte('(')
	for i, c := range p.components {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(strconv.Quote(c))
	}
	fmt.Fprintf(&b, ");created=%d;keyid=%s;alg=%s;nonce=%s;tag=%s", p.created,
		sfString(p.keyID), sfString(p.alg), sfString(p.nonce), sfString(p.tag))
	return b.String()
}

// sfString serializes a structured-field string; callers pass printable
// ASCII only.
func sfString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// signatureBase builds the RFC 9421 signature base of r for p.
func signatureBase(r *http.Request, digest string, p *sigParams) (string, error) {
	var b strings.Builder
	for _, c := range p.components {
		var v string
		switch c {
		case "@method":
			v = r.Method
		case "@authority":
			v = strings.ToLower(r.Host)
		case "@path":
			v = r.URL.EscapedPath()
			if v == "" {
				v = "/"
			}
		case "@query":
			v = "?" + r.URL.RawQuery
		case "content-digest":
			v = digest
		default:
			return "", fmt.Errorf("component %q is not supported", c)
		}
		fmt.Fprintf(&b, "%q: %s\n", c, v)
	}
	fmt.Fprintf(&b, "\"@signature-params\": %s", p.raw)
	return b.String(), nil
}

// SignRequest signs r, whose body is body, as s at now with nonce: it sets
// Content-Digest, Signature-Input and Signature.
func SignRequest(r *http.Request, body []byte, s Signer, now time.Time, nonce string) error {
	if len(nonce) < minNonceLen || len(nonce) > maxSigNonce || !printableASCII(nonce) {
		return errors.New("sign request: nonce must be 16 to 128 printable ASCII characters")
	}
	if !strings.HasPrefix(s.KeyID(), s.DID()+"#") {
		return errors.New("sign request: the key id is not a DID URL of the signer's DID")
	}
	digest := contentDigest(body)
	p := &sigParams{components: sigComponents, created: now.Unix(), keyID: s.KeyID(), alg: "ed25519", nonce: nonce, tag: SigTag}
	p.raw = p.serialize()
	base, err := signatureBase(r, digest, p)
	if err != nil {
		return err
	}
	r.Header.Set("Content-Digest", digest)
	r.Header.Set("Signature-Input", SigLabel+"="+p.raw)
	r.Header.Set("Signature", SigLabel+"=:"+base64.StdEncoding.EncodeToString(s.Sign([]byte(base)))+":")
	return nil
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// parseSignatureInput reads the Signature-Input header: exactly one
// member, labelled SigLabel, covering exactly sigComponents (in any order,
// each once), with the parameters created, keyid, alg, nonce and tag and
// no other.
func parseSignatureInput(h string) (*sigParams, error) {
	if len(h) > maxSigHeader {
		return nil, errors.New("header Signature-Input is too long")
	}
	rest, ok := strings.CutPrefix(h, SigLabel+"=(")
	if !ok {
		return nil, errors.New(`header Signature-Input: want one signature labelled "trove"`)
	}
	p := &sigParams{}
	end := strings.IndexByte(rest, ')')
	if end < 0 {
		return nil, errors.New("header Signature-Input: unterminated component list")
	}
	p.raw = h[len(SigLabel)+1:]
	list, params := rest[:end], rest[end+1:]
	for list != "" {
		var item string
		var err error
		item, list, err = sfParseString(list)
		if err != nil {
			return nil, fmt.Errorf("header Signature-Input: components: %w", err)
		}
		if !slices.Contains(sigComponents, item) || slices.Contains(p.components, item) {
			return nil, fmt.Errorf("header Signature-Input: component %q unknown or repeated", item)
		}
		p.components = append(p.components, item)
		if list != "" {
			if list[0] != ' ' {
				return nil, errors.New("header Signature-Input: components must be separated by one space")
			}
			list = list[1:]
		}
	}
	if len(p.components) != len(sigComponents) {
		return nil, errors.New("header Signature-Input: must cover @method, @authority, @path, @query and content-digest")
	}
	seen := map[string]bool{}
	for params != "" {
		if params[0] != ';' {
			return nil, errors.New("header Signature-Input: malformed parameters")
		}
		name, value, ok := strings.Cut(params[1:], "=")
		if !ok || seen[name] {
			return nil, errors.New("header Signature-Input: malformed or repeated parameter")
		}
		seen[name] = true
		var s string
		var err error
		switch name {
		case "created":
			i := strings.IndexByte(value, ';')
			if i < 0 {
				i = len(value)
			}
			p.created, err = strconv.ParseInt(value[:i], 10, 64)
			if err != nil || p.created < 0 || value[:i] != strconv.FormatInt(p.created, 10) {
				return nil, errors.New("header Signature-Input: created is not an integer")
			}
			params = value[i:]
			continue
		case "keyid", "alg", "nonce", "tag":
			s, params, err = sfParseString(value)
			if err != nil {
				return nil, fmt.Errorf("header Signature-Input: %s: %w", name, err)
			}
		default:
			return nil, fmt.Errorf("header Signature-Input: parameter %q is not accepted", name)
		}
		switch name {
		case "keyid":
			p.keyID = s
		case "alg":
			p.alg = s
		case "nonce":
			p.nonce = s
		case "tag":
			p.tag = s
		}
	}
	for _, n := range []string{"created", "keyid", "alg", "nonce", "tag"} {
		if !seen[n] {
			return nil, fmt.Errorf("header Signature-Input: parameter %s is missing", n)
		}
	}
	if p.alg != "ed25519" || p.tag != SigTag {
		return nil, errors.New(`header Signature-Input: alg must be "ed25519" and tag "trove-requester"`)
	}
	if len(p.nonce) < minNonceLen || len(p.nonce) > maxSigNonce {
		return nil, errors.New("header Signature-Input: nonce must be 16 to 128 characters")
	}
	return p, nil
}

// sfParseString reads one structured-field string at the start of s.
func sfParseString(s string) (v, rest string, err error) {
	if s == "" || s[0] != '"' {
		return "", s, errors.New("not a string")
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\':
			if i+1 >= len(s) || (s[i+1] != '"' && s[i+1] != '\\') {
				return "", s, errors.New("bad escape")
			}
			i++
			b.WriteByte(s[i])
		case c == '"':
			return b.String(), s[i+1:], nil
		case c < 0x20 || c > 0x7e:
			return "", s, errors.New("not printable ASCII")
		default:
			b.WriteByte(c)
		}
	}
	return "", s, errors.New("unterminated string")
}

// parseSignature reads the Signature header: one member labelled
// SigLabel holding a byte sequence of an Ed25519 signature.
func parseSignature(h string) ([]byte, error) {
	v, ok := strings.CutPrefix(h, SigLabel+"=:")
	if !ok || !strings.HasSuffix(v, ":") || len(h) > maxSigHeader {
		return nil, errors.New(`header Signature: want one byte sequence labelled "trove"`)
	}
	sig, err := base64.StdEncoding.Strict().DecodeString(v[:len(v)-1])
	if err != nil || len(sig) != ed25519.SignatureSize {
		return nil, errors.New("header Signature: not a base64 Ed25519 signature")
	}
	return sig, nil
}

// nonceCache remembers in memory the (keyid, nonce) pairs seen within
// SigWindow, by their SHA-256: the fast path that refuses a replay
// without touching the disk. It is bounded: when full, requests are
// turned away (ETOOMANY) rather than forgetting a nonce early.
type nonceCache struct {
	mu   sync.Mutex
	seen map[[sha256.Size]byte]time.Time // key → when it may be forgotten
	max  int
}

// nonceCacheKey is the key of a (keyid, nonce) pair: keyid holds no
// newline (it is printable ASCII), so the pair is unambiguous.
func nonceCacheKey(keyID, nonce string) [sha256.Size]byte {
	return sha256.Sum256([]byte(keyID + "\n" + nonce))
}

// use records key, or refuses it as a replay or because the cache is
// full.
func (n *nonceCache) use(key [sha256.Size]byte, now, forgetAt time.Time) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.seen == nil {
		n.seen = make(map[[sha256.Size]byte]time.Time)
	}
	if _, dup := n.seen[key]; dup {
		return errReplayed
	}
	if len(n.seen) >= n.max {
		for k, t := range n.seen {
			if now.After(t) {
				delete(n.seen, k)
			}
		}
		if len(n.seen) >= n.max {
			return &trove.Error{Code: trove.ETOOMANY, Reason: "nonce_store_full", Message: "too many signed requests in the last minutes; try again shortly"}
		}
	}
	n.seen[key] = forgetAt
	return nil
}

// forget drops key: the request it was recorded for was not accepted
// after all, so its retry is not a replay.
func (n *nonceCache) forget(key [sha256.Size]byte) {
	n.mu.Lock()
	delete(n.seen, key)
	n.mu.Unlock()
}

// errReplayed refuses a signed request already received.
var errReplayed = &trove.Error{Code: trove.EUNAUTHORIZED, Reason: "replayed_request", Message: "this signed request was already received"}

// NonceStore remembers, where a restart of the server does not forget
// them, the signed requests the server accepted. *vault.Nonces is one.
type NonceStore interface {
	// Use records that the request signed with keyID and nonce was
	// accepted at now, until forgetAt. It refuses a pair it already holds
	// with reason "replayed_request"; any other error refuses the request.
	Use(ctx context.Context, keyID, nonce string, now, forgetAt time.Time) error
}

// SetNonceStore makes the server record every accepted signed request in
// store before the request goes on, behind its in-memory check: a replay
// is then refused after a restart too. Without a store the memory of
// nonces lasts as long as the process. Call it before Open.
func (s *Server) SetNonceStore(store NonceStore) { s.store = store }

// useNonce records the pair (keyID, nonce) of a signed request that
// verified, in memory and then in the store: a known pair is a replay; a
// store that cannot record refuses the request (fail closed), and then
// the memory forgets the pair so that a retry is not taken for a replay.
func (s *Server) useNonce(ctx context.Context, keyID, nonce string, now, forgetAt time.Time) error {
	key := nonceCacheKey(keyID, nonce)
	if err := s.nonces.use(key, now, forgetAt); err != nil {
		return err
	}
	if s.store == nil {
		return nil
	}
	err := s.store.Use(ctx, keyID, nonce, now, forgetAt)
	switch {
	case err == nil:
		return nil
	case trove.ErrorReason(err) == errReplayed.Reason:
		return errReplayed
	}
	s.nonces.forget(key)
	if trove.ErrorCode(err) == trove.ETOOMANY {
		return err
	}
	return &trove.Error{Code: trove.EUNAVAILABLE, Reason: "nonce_store", Message: "the vault cannot record the signed request now; try again later", Err: err}
}

// verifyRequest authenticates r, whose body is body, and returns the
// signer's DID.
func (s *Server) verifyRequest(r *http.Request, body []byte) (string, error) {
	return s.verifyRequestDigest(r, contentDigest(body))
}

// verifyRequestDigest authenticates r as if its body had the given
// Content-Digest; a streamed body is checked against it as it is read
// (see digestReader).
func (s *Server) verifyRequestDigest(r *http.Request, digest string) (string, error) {
	unauth := func(msg string, err error) error {
		return &trove.Error{Code: trove.EUNAUTHORIZED, Reason: "bad_request_signature", Message: msg, Err: err}
	}
	in, sigH := r.Header.Values("Signature-Input"), r.Header.Values("Signature")
	if len(in) == 0 || len(sigH) == 0 {
		return "", unauth("requester endpoints need an HTTP Message Signature (RFC 9421) by the requester's DID key", nil)
	}
	if len(in) != 1 || len(sigH) != 1 {
		return "", unauth("exactly one Signature-Input and one Signature header are accepted", nil)
	}
	p, err := parseSignatureInput(in[0])
	if err != nil {
		return "", unauth(err.Error(), nil)
	}
	sig, err := parseSignature(sigH[0])
	if err != nil {
		return "", unauth(err.Error(), nil)
	}
	if got := r.Header.Values("Content-Digest"); len(got) != 1 || got[0] != digest {
		return "", unauth("Content-Digest is missing or does not match the body", nil)
	}
	base, frag, ok := strings.Cut(p.keyID, "#")
	if !ok || frag == "" {
		return "", unauth("keyid must be a DID URL with a key fragment", nil)
	}
	pub, err := did.PublicKey(p.keyID)
	if err != nil {
		return "", unauth("keyid does not name a resolvable key", err)
	}
	if bpub, err := did.PublicKey(base); err != nil || !bpub.Equal(pub) {
		return "", unauth("keyid does not name a key of its DID", err)
	}
	sb, err := signatureBase(r, digest, p)
	if err != nil {
		return "", unauth(err.Error(), nil)
	}
	if !ed25519.Verify(pub, []byte(sb), sig) {
		return "", unauth("the request signature does not verify", nil)
	}
	now := s.now()
	created := time.Unix(p.created, 0)
	if created.Before(now.Add(-SigWindow)) || created.After(now.Add(SigWindow)) {
		return "", &trove.Error{Code: trove.EUNAUTHORIZED, Reason: "stale_request", Message: "the request signature's created time is outside the 5-minute window"}
	}
	// Remembered until no clock within the window can take it as fresh.
	if err := s.useNonce(r.Context(), p.keyID, p.nonce, now, created.Add(2*SigWindow)); err != nil {
		return "", err
	}
	return base, nil
}

// requesterKey is the echo context key of the authenticated requester.
const requesterKey = "trove.requester"

// authenticate is the middleware of requester endpoints: it reads the
// body (already capped by bodyLimit), verifies the request's signature,
// puts the body back and records the requester's DID for the handler.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if streamed(r) {
			// The body is not read here: the signature is checked over the
			// Content-Digest it claims, and the body against that digest as
			// the handler streams it.
			want := r.Header.Get("Content-Digest")
			requester, err := s.verifyRequestDigest(r, want)
			if err != nil {
				return err
			}
			r.Body = &digestReader{r: r.Body, h: sha256.New(), want: want}
			c.Set(requesterKey, requester)
			return next(c)
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				return trove.Errorf(trove.ETOOLARGE, "the body is over the limit of %d bytes", tooLarge.Limit)
			}
			return trove.Errorf(trove.EINVALID, "cannot read the body")
		}
		requester, err := s.verifyRequest(r, body)
		if err != nil {
			return err
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		c.Set(requesterKey, requester)
		return next(c)
	}
}

// requesterOf returns the authenticated requester of a request.
func requesterOf(c echo.Context) string {
	s, _ := c.Get(requesterKey).(string)
	return s
}

// streamed reports whether r is an upload its handler streams (a job as
// multipart/form-data), whose body authenticate must not buffer.
func streamed(r *http.Request) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return r.Method == http.MethodPost && r.URL.Path == "/v1/jobs" && mt == "multipart/form-data"
}

// errDigestMismatch is what reading a streamed body returns at its end
// when the body is not the one its Content-Digest, and so its signature,
// names.
var errDigestMismatch = &trove.Error{Code: trove.EUNAUTHORIZED, Reason: "bad_request_signature", Message: "Content-Digest does not match the body"}

// digestReader hashes a body as it is read and, at its end, fails unless
// the body has the expected Content-Digest.
type digestReader struct {
	r    io.ReadCloser
	h    hash.Hash
	want string
	done bool
}

func (d *digestReader) Read(p []byte) (int, error) {
	if d.done {
		return 0, io.EOF
	}
	n, err := d.r.Read(p)
	d.h.Write(p[:n])
	if errors.Is(err, io.EOF) {
		if "sha-256=:"+base64.StdEncoding.EncodeToString(d.h.Sum(nil))+":" != d.want {
			return n, errDigestMismatch
		}
		d.done = true
	}
	return n, err
}

func (d *digestReader) Close() error { return d.r.Close() }
