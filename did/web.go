package did

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	ariesdid "github.com/hyperledger/aries-framework-go/pkg/doc/did"
)

// Limits and defaults of did:web resolution.
const (
	DefaultWebTimeout = 5 * time.Second
	DefaultWebMaxSize = 64 << 10
	DefaultWebTTL     = 5 * time.Minute
	maxWebCache       = 1024
	// Ed25519KeyType is the verification method type trove writes and reads.
	Ed25519KeyType = "Ed25519VerificationKey2018"
)

// ErrUnresolvable is wrapped by the errors of fetching a did:web
// document: the network, a status other than 200 (a redirect among
// them), a document over the size limit.
var ErrUnresolvable = errors.New("DID document unresolvable")

// ErrOtherDID is wrapped, beside ErrInvalid, by the error of a DID
// document that is about another DID than the one resolved.
var ErrOtherDID = errors.New("the DID document is about another DID")

var webHostRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?(%3[aA][0-9]{1,5})?$`)

// WebDID returns the did:web identifier of a host (host or host:port),
// with its documents at https://host/.well-known/did.json.
func WebDID(hostport string) (string, error) {
	id := "did:web:" + strings.ReplaceAll(strings.ToLower(hostport), ":", "%3A")
	if _, err := WebURL(id, true); err != nil {
		return "", err
	}
	return id, nil
}

// WebURL returns where the DID document of a did:web identifier lives:
// https://host[:port]/.well-known/did.json, or /path/did.json for a DID
// with path segments. Plain http is used only when allowLoopbackHTTP is
// set and the host is a loopback address (for tests).
func WebURL(id string, allowLoopbackHTTP bool) (*url.URL, error) {
	rest, ok := strings.CutPrefix(id, "did:web:")
	if !ok || strings.ContainsAny(rest, "#?/") {
		return nil, fmt.Errorf("%w: not a did:web identifier", ErrInvalid)
	}
	parts := strings.Split(rest, ":")
	if !webHostRE.MatchString(parts[0]) {
		return nil, fmt.Errorf("%w: did:web host", ErrInvalid)
	}
	host := strings.Replace(strings.Replace(parts[0], "%3a", ":", 1), "%3A", ":", 1)
	path := "/.well-known/did.json"
	if len(parts) > 1 {
		for _, p := range parts[1:] {
			if p == "" || p == "." || p == ".." || strings.Contains(p, "%") {
				return nil, fmt.Errorf("%w: did:web path", ErrInvalid)
			}
		}
		path = "/" + strings.Join(parts[1:], "/") + "/did.json"
	}
	scheme := "https"
	if allowLoopbackHTTP && isLoopback(host) {
		scheme = "http"
	}
	return &url.URL{Scheme: scheme, Host: host, Path: path}, nil
}

func isLoopback(hostport string) bool {
	h := hostport
	if hh, _, err := net.SplitHostPort(hostport); err == nil {
		h = hh
	}
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// Document returns the DID document of id, in the W3C DID data model
// (through aries' model), listing keys as Ed25519 verification methods
// #key-1, #key-2, … of which the last is the current one: the one used
// for assertions and authentication. Earlier keys stay listed as
// verification methods so that what they signed can still be checked,
// but no longer assert. alsoKnownAs names other identifiers of the same
// owner (such as its did:key).
func Document(id string, keys []ed25519.PublicKey, alsoKnownAs ...string) ([]byte, error) {
	if len(keys) == 0 {
		return nil, errors.New("did document: no key")
	}
	doc := &ariesdid.Doc{Context: []string{ariesdid.ContextV1}, ID: id, AlsoKnownAs: alsoKnownAs}
	for i, k := range keys {
		vm := ariesdid.NewVerificationMethodFromBytes(fmt.Sprintf("%s#key-%d", id, i+1), Ed25519KeyType, id, k)
		doc.VerificationMethod = append(doc.VerificationMethod, *vm)
	}
	current := &doc.VerificationMethod[len(keys)-1]
	doc.AssertionMethod = []ariesdid.Verification{*ariesdid.NewReferencedVerification(current, ariesdid.AssertionMethod)}
	doc.Authentication = []ariesdid.Verification{*ariesdid.NewReferencedVerification(current, ariesdid.Authentication)}
	return doc.JSONBytes()
}

// OwnerDocument returns the DID document of id for an owner whose key was
// rotated: keys holds every key the owner has had, the current one first,
// then the earlier ones newest first. Each is a verification method named
// by its age (#key-1 the oldest, so that a key keeps its id across
// rotations). Every key stays in assertionMethod, the current one first,
// so that what an earlier key signed still verifies; only the current key
// authenticates. alsoKnownAs names the owner's other identifiers (its
// did:keys, current first).
func OwnerDocument(id string, keys []ed25519.PublicKey, alsoKnownAs ...string) ([]byte, error) {
	if len(keys) == 0 {
		return nil, errors.New("did document: no key")
	}
	doc := &ariesdid.Doc{Context: []string{ariesdid.ContextV1}, ID: id, AlsoKnownAs: alsoKnownAs}
	for i, k := range keys {
		vm := ariesdid.NewVerificationMethodFromBytes(fmt.Sprintf("%s#key-%d", id, len(keys)-i), Ed25519KeyType, id, k)
		doc.VerificationMethod = append(doc.VerificationMethod, *vm)
	}
	for i := range doc.VerificationMethod {
		doc.AssertionMethod = append(doc.AssertionMethod, *ariesdid.NewReferencedVerification(&doc.VerificationMethod[i], ariesdid.AssertionMethod))
	}
	doc.Authentication = []ariesdid.Verification{*ariesdid.NewReferencedVerification(&doc.VerificationMethod[0], ariesdid.Authentication)}
	return doc.JSONBytes()
}

// Resolved is what a DID document says about keys.
type Resolved struct {
	ID         string
	Keys       map[string]ed25519.PublicKey // every Ed25519 verification method, by DID URL
	Assertions []string                     // the DID URLs of keys that may assert (assertionMethod or authentication)
	// AlsoKnownAs lists the other identifiers the document names for its
	// subject, in the document's order (a did:key resolves to none).
	AlsoKnownAs []string
}

// parseDocument reads a DID document through aries' model, behind a
// recover (aries panics on some inputs).
func parseDocument(id string, data []byte) (r *Resolved, err error) {
	defer func() {
		if p := recover(); p != nil {
			r, err = nil, fmt.Errorf("%w: the DID document cannot be read", ErrInvalid)
		}
	}()
	doc, err := ariesdid.ParseDocument(data)
	if err != nil {
		return nil, fmt.Errorf("%w: DID document: %v", ErrInvalid, err)
	}
	if doc.ID != id {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, ErrOtherDID)
	}
	aka, err := alsoKnownAs(data)
	if err != nil {
		return nil, err
	}
	r = &Resolved{ID: id, Keys: map[string]ed25519.PublicKey{}, AlsoKnownAs: aka}
	abs := func(vmID string) string {
		if strings.HasPrefix(vmID, "#") {
			return id + vmID
		}
		return vmID
	}
	for _, vm := range doc.VerificationMethod {
		if pub := ed25519Of(&vm); pub != nil && vm.Controller == id {
			r.Keys[abs(vm.ID)] = pub
		}
	}
	for _, rel := range [][]ariesdid.Verification{doc.AssertionMethod, doc.Authentication} {
		for _, v := range rel {
			vid := abs(v.VerificationMethod.ID)
			if v.Embedded {
				if pub := ed25519Of(&v.VerificationMethod); pub != nil && v.VerificationMethod.Controller == id {
					r.Keys[vid] = pub
				}
			}
			if _, ok := r.Keys[vid]; ok && strings.HasPrefix(vid, id+"#") && !slices.Contains(r.Assertions, vid) {
				r.Assertions = append(r.Assertions, vid)
			}
		}
	}
	return r, nil
}

// alsoKnownAs reads a document's alsoKnownAs strictly: absent, or an
// array of strings kept in order (aries' model drops entries it cannot
// read, which would move a later one first).
func alsoKnownAs(data []byte) ([]string, error) {
	var doc struct {
		AlsoKnownAs json.RawMessage `json:"alsoKnownAs"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%w: DID document: %v", ErrInvalid, err)
	}
	if doc.AlsoKnownAs == nil {
		return nil, nil
	}
	var aka []*string
	if err := json.Unmarshal(doc.AlsoKnownAs, &aka); err != nil {
		return nil, fmt.Errorf("%w: DID document: alsoKnownAs is not an array of strings", ErrInvalid)
	}
	out := make([]string, len(aka))
	for i, a := range aka {
		if a == nil {
			return nil, fmt.Errorf("%w: DID document: alsoKnownAs is not an array of strings", ErrInvalid)
		}
		out[i] = *a
	}
	return out, nil
}

func ed25519Of(vm *ariesdid.VerificationMethod) ed25519.PublicKey {
	switch vm.Type {
	case Ed25519KeyType, "Ed25519VerificationKey2020":
		if len(vm.Value) == ed25519.PublicKeySize {
			return ed25519.PublicKey(vm.Value)
		}
	case "JsonWebKey2020":
		if k := vm.JSONWebKey(); k != nil {
			if pub, ok := k.Key.(ed25519.PublicKey); ok {
				return pub
			}
		}
	}
	return nil
}

// Resolver resolves did:key offline and did:web over HTTPS with a
// timeout, a size limit, no redirects and a cache. The zero value is not
// usable: make one with NewResolver.
type Resolver struct {
	client            *http.Client
	maxSize           int64
	ttl               time.Duration
	allowLoopbackHTTP bool
	now               func() time.Time

	mu    sync.Mutex
	cache map[string]cached
}

type cached struct {
	r  *Resolved
	at time.Time
}

// ResolverOptions tune a Resolver; zero fields take their defaults.
type ResolverOptions struct {
	Timeout           time.Duration // per fetch; DefaultWebTimeout
	MaxSize           int64         // of a DID document; DefaultWebMaxSize
	TTL               time.Duration // how long a document is cached; DefaultWebTTL
	AllowLoopbackHTTP bool          // plain http to loopback hosts, for tests
	Now               func() time.Time
	Transport         http.RoundTripper // default http.DefaultTransport
}

// NewResolver returns a resolver with opts.
func NewResolver(opts ResolverOptions) *Resolver {
	if opts.Timeout == 0 {
		opts.Timeout = DefaultWebTimeout
	}
	if opts.MaxSize == 0 {
		opts.MaxSize = DefaultWebMaxSize
	}
	if opts.TTL == 0 {
		opts.TTL = DefaultWebTTL
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Resolver{
		client: &http.Client{
			Timeout:   opts.Timeout,
			Transport: opts.Transport,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
		maxSize: opts.MaxSize, ttl: opts.TTL, allowLoopbackHTTP: opts.AllowLoopbackHTTP, now: opts.Now,
		cache: map[string]cached{},
	}
}

// Resolve returns the keys of a did:key or did:web identifier.
func (r *Resolver) Resolve(ctx context.Context, id string) (*Resolved, error) {
	if strings.HasPrefix(id, "did:key:") {
		pub, err := PublicKey(id)
		if err != nil {
			return nil, err
		}
		kid := id + "#" + strings.TrimPrefix(id, "did:key:")
		return &Resolved{ID: id, Keys: map[string]ed25519.PublicKey{kid: pub}, Assertions: []string{kid}}, nil
	}
	u, err := WebURL(id, r.allowLoopbackHTTP)
	if err != nil {
		return nil, err
	}
	now := r.now()
	r.mu.Lock()
	c, ok := r.cache[id]
	r.mu.Unlock()
	if ok && now.Sub(c.at) < r.ttl {
		return c.r, nil
	}
	res, err := r.fetch(ctx, id, u)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	if len(r.cache) >= maxWebCache {
		for k := range r.cache {
			delete(r.cache, k)
			break
		}
	}
	r.cache[id] = cached{r: res, at: now}
	r.mu.Unlock()
	return res, nil
}

func (r *Resolver) fetch(ctx context.Context, id string, u *url.URL) (*Resolved, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("%w: resolve %s: %w", ErrUnresolvable, id, err)
	}
	req.Header.Set("Accept", "application/did+json, application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: resolve %s: %w", ErrUnresolvable, id, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: resolve %s: %s answered %d", ErrUnresolvable, id, u.Host, resp.StatusCode)
	}
	if resp.ContentLength > r.maxSize {
		return nil, fmt.Errorf("%w: resolve %s: the DID document is over %d bytes", ErrUnresolvable, id, r.maxSize)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, r.maxSize+1))
	if err != nil {
		return nil, fmt.Errorf("%w: resolve %s: %w", ErrUnresolvable, id, err)
	}
	if int64(len(data)) > r.maxSize {
		return nil, fmt.Errorf("%w: resolve %s: the DID document is over %d bytes", ErrUnresolvable, id, r.maxSize)
	}
	return parseDocument(id, data)
}

// AssertionKey returns the key of id that may assert: the one kid names
// (a DID URL of id listed for assertions), or id's only such key when kid
// is empty.
func (r *Resolver) AssertionKey(ctx context.Context, id, kid string) (ed25519.PublicKey, error) {
	res, err := r.Resolve(ctx, id)
	if err != nil {
		return nil, err
	}
	if kid == "" {
		if len(res.Assertions) != 1 {
			return nil, fmt.Errorf("%w: no kid, and the DID does not have exactly one assertion key", ErrInvalid)
		}
		kid = res.Assertions[0]
	}
	for _, a := range res.Assertions {
		if a == kid {
			return res.Keys[kid], nil
		}
	}
	return nil, fmt.Errorf("%w: kid is not an assertion key of the DID", ErrInvalid)
}
