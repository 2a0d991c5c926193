package requester_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trove-project/trove"
	"github.com/trove-project/trove/api"
	"github.com/trove-project/trove/consent"
	"github.com/trove-project/trove/did"
	"github.com/trove-project/trove/internal/webtest"
	"github.com/trove-project/trove/requester"
	"github.com/trove-project/trove/vault"
)

// webVault is a vault with a dataset served over HTTP; when it has a
// domain, the domain is its own 127.0.0.1:port, whose did:web document it
// serves.
type webVault struct {
	vault  *vault.Vault
	client *api.Client
	webDID string // "" without a domain
}

func serveWebVault(t *testing.T, withDomain bool) *webVault {
	t.Helper()
	ctx := context.Background()
	addr, webHost := "127.0.0.1:0", ""
	if withDomain {
		addr = webtest.Addr(t)
		webHost = addr
	}
	v, err := vault.Create(ctx, vault.Config{Home: filepath.Join(t.TempDir(), "vault"), WorkFactor: 10, WebHost: webHost}, []byte("p"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	if _, err := v.Import(ctx, "d", bytes.NewReader([]byte("x,y\n1,2\n3,5\n")), vault.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	srv := api.NewServer(v, addr, nil)
	if err := srv.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close(ctx) })
	client, err := api.NewClient(srv.URL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	wv := &webVault{vault: v, client: client}
	if withDomain {
		wv.webDID = webtest.DID(t, webHost)
	}
	return wv
}

func newRequester(t *testing.T, opts requester.Options) *requester.Requester {
	t.Helper()
	opts.WorkFactor = 10
	r, err := requester.Init(filepath.Join(t.TempDir(), "r"), []byte("p"), opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func webAsk(webDID string) requester.Ask {
	return requester.Ask{Dataset: "d", Algorithm: "builtin:stats@1", Purpose: "research", PurposeCode: consent.PurposeResearch,
		Output: consent.OutputPolicy{Policy: consent.OutputRelease}, Per: consent.PerRun, MaxRuns: 1,
		Price: consent.Money{Amount: 1, Currency: "EUR"}, Validity: time.Hour, WebDID: webDID}
}

// A vault served at its own domain is verified as its did:web before the
// request is sent; the request and the binding are kept with it.
func TestBindWebVerifiesTheVaultsDomain(t *testing.T) {
	ctx := context.Background()
	wv := serveWebVault(t, true)
	r := newRequester(t, requester.Options{WebLoopbackHTTP: true})
	st, err := r.RequestConsent(ctx, wv.client, webAsk(wv.webDID))
	if err != nil {
		t.Fatal(err)
	}
	p, err := r.Request(st.ID)
	if err != nil || p.WebDID != wv.webDID || p.Vault != wv.vault.DID() {
		t.Fatalf("kept request %+v, %v", p, err)
	}
	if got, err := wv.vault.ConsentRequests(ctx, vault.Pending); err != nil || len(got) != 1 {
		t.Fatalf("the vault has %d requests, %v", len(got), err)
	}
	files, err := filepath.Glob(filepath.Join(r.Home(), "web", "*.json"))
	if err != nil || len(files) != 1 {
		t.Fatalf("kept bindings %v, %v", files, err)
	}
	var b requester.WebBinding
	if data, err := os.ReadFile(files[0]); err != nil || json.Unmarshal(data, &b) != nil || b.WebDID != wv.webDID || b.VaultDID != wv.vault.DID() {
		t.Fatalf("kept binding %+v, %v", b, err)
	}
	// Verified again: the same did:key, the same binding.
	if _, err := r.BindWeb(ctx, wv.client, wv.webDID, wv.vault.DID()); err != nil {
		t.Fatal(err)
	}
}

// document returns a did:web document for id with keys (the last
// asserts) and alsoKnownAs.
func document(t *testing.T, id string, keys []ed25519.PublicKey, aka ...string) []byte {
	t.Helper()
	doc, err := did.Document(id, keys, aka...)
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// Every way a did:web can fail to vouch for the vault is refused with
// its reason, before anything but the catalog's read reaches the vault,
// and nothing is kept.
func TestBindWebRefuses(t *testing.T) {
	ctx := context.Background()
	wv := serveWebVault(t, false)
	vaultPub, err := did.PublicKey(wv.vault.DID())
	if err != nil {
		t.Fatal(err)
	}
	other, err := did.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serveDoc := func(doc func(id string) []byte) string {
		return webtest.Serve(t, func(id string) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/did+json")
				w.Write(doc(id))
			}
		})
	}
	vouching := serveDoc(func(id string) []byte { return document(t, id, []ed25519.PublicKey{vaultPub}, wv.vault.DID()) })
	for name, tc := range map[string]struct {
		webDID   func() string
		noSwitch bool
		code     trove.Code
		reason   string
	}{
		"the did:key not named": {func() string {
			return serveDoc(func(id string) []byte { return document(t, id, []ed25519.PublicKey{vaultPub}, other.DID()) })
		}, false, trove.EFORBIDDEN, requester.ReasonWebMismatch},
		"no alsoKnownAs": {func() string {
			return serveDoc(func(id string) []byte { return document(t, id, []ed25519.PublicKey{vaultPub}) })
		}, false, trove.EFORBIDDEN, requester.ReasonWebMismatch},
		"the did:key named but not first (retired)": {func() string {
			return serveDoc(func(id string) []byte {
				return document(t, id, []ed25519.PublicKey{vaultPub, other.Public()}, other.DID(), wv.vault.DID())
			})
		}, false, trove.EFORBIDDEN, requester.ReasonWebRetired},
		"named, but another key asserts": {func() string {
			return serveDoc(func(id string) []byte {
				return document(t, id, []ed25519.PublicKey{vaultPub, other.Public()}, wv.vault.DID())
			})
		}, false, trove.EFORBIDDEN, requester.ReasonWebMismatch},
		"a document about another DID": {func() string {
			return serveDoc(func(string) []byte {
				return document(t, "did:web:vault.example.org", []ed25519.PublicKey{vaultPub}, wv.vault.DID())
			})
		}, false, trove.EFORBIDDEN, requester.ReasonWebMismatch},
		"oversized": {func() string {
			return serveDoc(func(id string) []byte {
				doc := document(t, id, []ed25519.PublicKey{vaultPub}, wv.vault.DID())
				return append(doc, bytes.Repeat([]byte(" "), did.DefaultWebMaxSize)...)
			})
		}, false, trove.EUNAVAILABLE, requester.ReasonWebUnresolvable},
		"redirecting": {func() string {
			return webtest.Serve(t, func(id string) http.HandlerFunc {
				u, _ := did.WebURL(vouching, true)
				return func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, u.String(), http.StatusFound) }
			})
		}, false, trove.EUNAVAILABLE, requester.ReasonWebUnresolvable},
		"unreachable":                        {func() string { return webtest.DID(t, webtest.Addr(t)) }, false, trove.EUNAVAILABLE, requester.ReasonWebUnresolvable},
		"plain HTTP without the test switch": {func() string { return vouching }, true, trove.EUNAVAILABLE, requester.ReasonWebUnresolvable},
		"malformed": {func() string {
			return serveDoc(func(string) []byte { return []byte(`{"id":`) })
		}, false, trove.EINVALID, requester.ReasonWebInvalid},
		"a did:key given":       {func() string { return wv.vault.DID() }, false, trove.EINVALID, requester.ReasonWebInvalid},
		"a did:web with a path": {func() string { return vouching + ":..:x" }, false, trove.EINVALID, requester.ReasonWebInvalid},
	} {
		t.Run(name, func(t *testing.T) {
			r := newRequester(t, requester.Options{WebLoopbackHTTP: !tc.noSwitch})
			webDID := tc.webDID()
			_, err := r.RequestConsent(ctx, wv.client, webAsk(webDID))
			if trove.ErrorCode(err) != tc.code || trove.ErrorReason(err) != tc.reason {
				t.Fatalf("%s: %v (code %s, reason %q); want %s, %s", webDID, err, trove.ErrorCode(err), trove.ErrorReason(err), tc.code, tc.reason)
			}
			if got, err := wv.vault.ConsentRequests(ctx, ""); err != nil || len(got) != 0 {
				t.Fatalf("%d requests reached the vault (%v)", len(got), err)
			}
			for _, dir := range []string{"web", "requests"} {
				if entries, err := os.ReadDir(filepath.Join(r.Home(), dir)); len(entries) != 0 || !os.IsNotExist(err) {
					t.Fatalf("%s kept after a refusal: %v %v", dir, entries, err)
				}
			}
		})
	}
	// The vouching document itself is accepted, with the test switch.
	if _, err := newRequester(t, requester.Options{WebLoopbackHTTP: true}).BindWeb(ctx, wv.client, vouching, wv.vault.DID()); err != nil {
		t.Fatalf("the vouching document: %v", err)
	}
}

// Once a binding is kept, a did:key the document now names first but that
// is no successor of the kept one through the vault's rotation chain (the
// domain now serves an unrelated vault, whose chain is empty) is refused
// with bad_rotation, and the kept binding stays.
func TestBindWebKeptBindingChanged(t *testing.T) {
	ctx := context.Background()
	unrelated := serveWebVault(t, false)
	a, err := did.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, err := did.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	current := []*did.Key{a}
	webDID := webtest.Serve(t, func(id string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			keys := current
			mu.Unlock()
			var pubs []ed25519.PublicKey
			var aka []string
			for i, k := range keys {
				pubs = append(pubs, k.Public())
				aka = append(aka, keys[len(keys)-1-i].DID())
			}
			w.Write(document(t, id, pubs, aka...))
		}
	})
	clk := time.Now()
	r := newRequester(t, requester.Options{WebLoopbackHTTP: true, Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return clk }})
	if _, err := r.BindWeb(ctx, unrelated.client, webDID, a.DID()); err != nil {
		t.Fatal(err)
	}
	// The owner rotates to b: the document lists b first, then a.
	mu.Lock()
	current = []*did.Key{a, b}
	clk = clk.Add(did.DefaultWebTTL + time.Second) // past the resolver's cache
	mu.Unlock()
	_, err = r.BindWeb(ctx, unrelated.client, webDID, b.DID())
	if trove.ErrorReason(err) != "bad_rotation" || !strings.Contains(trove.ErrorMessage(err), "successor") {
		t.Fatalf("a new did:key for a kept did:web: %v", err)
	}
	if _, err := r.BindWeb(ctx, unrelated.client, webDID, a.DID()); trove.ErrorReason(err) != requester.ReasonWebRetired {
		t.Fatalf("the old did:key after the rotation: %v", err)
	}
	files, _ := filepath.Glob(filepath.Join(r.Home(), "web", "*.json"))
	if len(files) != 1 {
		t.Fatalf("kept bindings: %v", files)
	}
	data, err := os.ReadFile(files[0])
	if err != nil || !bytes.Contains(data, []byte(fmt.Sprintf("%q", a.DID()))) {
		t.Fatalf("the kept binding changed: %s %v", data, err)
	}
}

// A vault at its own domain rotates its key: the kept binding follows the
// new did:key through the verified rotation chain, the old did:key is
// then refused as retired, and a consent request goes to the new one.
func TestBindWebFollowsARotation(t *testing.T) {
	ctx := context.Background()
	wv := serveWebVault(t, true)
	r := newRequester(t, requester.Options{WebLoopbackHTTP: true})
	old := wv.vault.DID()
	if _, err := r.RequestConsent(ctx, wv.client, webAsk(wv.webDID)); err != nil {
		t.Fatal(err)
	}
	if _, err := wv.vault.Rotate(ctx, []byte("p")); err != nil {
		t.Fatal(err)
	}
	// The same home opened again (as the next CLI command would): its
	// resolver's cache is empty, so the rotated document is read afresh.
	r2, err := requester.Open(r.Home(), []byte("p"), requester.Options{WebLoopbackHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	st, err := r2.RequestConsent(ctx, wv.client, webAsk(wv.webDID))
	if err != nil {
		t.Fatalf("a request after the rotation: %v", err)
	}
	p, err := r2.Request(st.ID)
	if err != nil || p.Vault != wv.vault.DID() || p.Vault == old || p.WebDID != wv.webDID {
		t.Fatalf("kept request %+v, %v", p, err)
	}
	if succ, err := r2.Successors(old); err != nil || len(succ) != 1 || succ[0] != wv.vault.DID() {
		t.Fatalf("successors of the old DID: %v, %v", succ, err)
	}
	files, _ := filepath.Glob(filepath.Join(r2.Home(), "web", "*.json"))
	var b requester.WebBinding
	if len(files) != 1 {
		t.Fatalf("kept bindings: %v", files)
	}
	if data, err := os.ReadFile(files[0]); err != nil || json.Unmarshal(data, &b) != nil || b.VaultDID != wv.vault.DID() {
		t.Fatalf("kept binding %+v, %v", b, err)
	}
	if _, err := r2.BindWeb(ctx, wv.client, wv.webDID, old); trove.ErrorReason(err) != requester.ReasonWebRetired {
		t.Fatalf("the retired did:key: %v", err)
	}
}
