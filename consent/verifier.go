package consent

import (
	"context"
	"sync"
	"time"
)

// DefaultVerifierCache is how many credentials and status lists a
// Verifier remembers when not told otherwise.
const DefaultVerifierCache = 4096

// Verifier verifies credentials, presentations and status lists with keys
// from a KeyResolver (nil: did:key only) and remembers each credential and
// status list it accepted, by its exact bytes: the same token is not
// verified, parsed and handed to the VC data model again — only its
// validity window is checked against the clock. Presentations, which are
// single-use, are always verified in full. A Verifier is safe for
// concurrent use.
type Verifier struct {
	keys KeyResolver
	max  int

	mu    sync.Mutex
	creds map[string]*Credential
	lists map[string]*StatusList
}

// NewVerifier returns a verifier using keys (nil: did:key only) that
// remembers up to max tokens of each kind (0: DefaultVerifierCache).
func NewVerifier(keys KeyResolver, max int) *Verifier {
	if keys == nil {
		keys = didKeys{}
	}
	if max <= 0 {
		max = DefaultVerifierCache
	}
	return &Verifier{keys: keys, max: max, creds: map[string]*Credential{}, lists: map[string]*StatusList{}}
}

// VerifyCredential is VerifyCredential with this verifier's keys and cache.
func (v *Verifier) VerifyCredential(ctx context.Context, token string, now time.Time) (*Credential, error) {
	return v.credential(ctx, v.keys, token, now)
}

func (v *Verifier) credential(ctx context.Context, keys KeyResolver, token string, now time.Time) (*Credential, error) {
	v.mu.Lock()
	c, ok := v.creds[token]
	v.mu.Unlock()
	if ok {
		if err := checkWindow(c.NotBefore, c.Expires, c.IssuedAt, now); err != nil {
			return nil, err
		}
		cp := *c
		return &cp, nil
	}
	c, err := verifyCredential(ctx, keys, token, now)
	if err != nil {
		return nil, err
	}
	v.mu.Lock()
	remember(v.creds, token, c, v.max)
	v.mu.Unlock()
	cp := *c
	return &cp, nil
}

// VerifyPresentation is VerifyPresentation with this verifier's keys, the
// embedded credential going through its cache. formerVaults are the
// vault's earlier DIDs, before its owner key was rotated: the
// presentation must be addressed to audience, its current DID, but the
// credential may be one issued for any of them (who issued it is the
// vault's to check).
func (v *Verifier) VerifyPresentation(ctx context.Context, token, audience string, now time.Time, formerVaults ...string) (*Presentation, error) {
	return verifyPresentation(ctx, v.keys, v.credential, token, audience, now, formerVaults)
}

// VerifyStatusList is VerifyStatusList with this verifier's keys and
// cache.
func (v *Verifier) VerifyStatusList(ctx context.Context, token string, now time.Time) (*StatusList, error) {
	v.mu.Lock()
	l, ok := v.lists[token]
	v.mu.Unlock()
	if ok {
		if err := checkWindow(time.Time{}, l.Expires, l.IssuedAt, now); err != nil {
			return nil, err
		}
		return l, nil
	}
	l, err := verifyStatusList(ctx, v.keys, token, now)
	if err != nil {
		return nil, err
	}
	v.mu.Lock()
	remember(v.lists, token, l, v.max)
	v.mu.Unlock()
	return l, nil
}

// checkWindow applies the time checks of the strict path to a token
// verified before.
func checkWindow(nbf, exp, iat, now time.Time) error {
	c := claims{nbf: nbf, exp: exp, iat: iat}
	return c.checkTimes(now, Skew)
}

// remember stores v under k, first forgetting an arbitrary entry when the
// map is full: the cache stays bounded whatever is sent to it.
func remember[V any](m map[string]V, k string, v V, max int) {
	if len(m) >= max {
		for old := range m {
			delete(m, old)
			break
		}
	}
	m[k] = v
}
