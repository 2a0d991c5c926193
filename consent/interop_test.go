package consent

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hyperledger/aries-framework-go/pkg/vdr/key"
)

var update = flag.Bool("update", false, "rewrite trove's interop fixtures under testdata/interop")

// Interop fixtures (testdata/interop): make-fixtures.mjs makes a Consent
// credential and a presentation with did-jwt-vc, an independent VC-JWT
// implementation, and records what did-jwt-vc says of trove's own
// (trove-*.jwt, written by this test with -update).

func readFixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "interop", name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// trove's tokens are reproducible: fixed keys, fixed times, deterministic
// Ed25519.
func TestInteropTroveFixturesAreCurrent(t *testing.T) {
	k := testKeys(t)
	cred := issueCredential(t, k)
	vp := present(t, k, cred)
	for name, tok := range map[string]string{"trove-credential.jwt": cred, "trove-presentation.jwt": vp} {
		path := filepath.Join("testdata", "interop", name)
		if *update {
			if err := os.WriteFile(path, []byte(tok+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if got := readFixture(t, name); got != tok {
			t.Errorf("%s is stale: run go test ./consent -run Interop -update, then node make-fixtures.mjs", name)
		}
	}
}

// did-jwt-vc's credential and presentation verify in trove, kid-less as
// they are.
func TestInteropTheirsVerifyInTrove(t *testing.T) {
	k := testKeys(t)
	cred := readFixture(t, "didjwtvc-credential.jwt")
	hdr, _, _ := segments(t, cred)
	if strings.Contains(hdr, "kid") {
		t.Fatalf("did-jwt-vc's header %s has a kid: the fixture is not what the note describes", hdr)
	}
	c, err := VerifyCredential(cred, now)
	if err != nil {
		t.Fatal(err)
	}
	want := testTerms(k.owner.DID())
	if c.Issuer != k.owner.DID() || c.Subject != k.requester.DID() || c.Status != testStatus ||
		c.Terms.MaxRuns != want.MaxRuns || !slices.Equal(c.Terms.Columns, want.Columns) || c.Terms.Output != want.Output {
		t.Fatalf("their credential reads as %+v", c)
	}
	p, err := VerifyPresentation(readFixture(t, "didjwtvc-presentation.jwt"), k.owner.DID(), now)
	if err != nil {
		t.Fatal(err)
	}
	if p.Holder != k.requester.DID() || p.Nonce != "n-0123456789abcdef" || p.Credential.Raw != cred {
		t.Fatalf("their presentation reads as %+v", p)
	}
}

// trove's credential and presentation keep the VC-JWT format rules, and
// did-jwt-vc verified exactly these tokens.
func TestInteropOursVerifyInTheirs(t *testing.T) {
	k := testKeys(t)
	var verdicts map[string]struct {
		SHA256   string `json:"sha256"`
		Verified bool   `json:"verified"`
		Issuer   string `json:"issuer"`
		Kid      string `json:"kid"`
		Error    string `json:"error"`
	}
	if err := json.Unmarshal([]byte(readFixture(t, "didjwtvc-verifies-trove.json")), &verdicts); err != nil {
		t.Fatal(err)
	}
	for name, issuer := range map[string]string{
		"trove-credential.jwt": k.owner.DID(), "trove-presentation.jwt": k.requester.DID(),
		"didjwtvc-credential.jwt": k.owner.DID(), "didjwtvc-presentation.jwt": k.requester.DID(),
	} {
		tok := readFixture(t, name)
		sum := sha256.Sum256([]byte(tok))
		v, ok := verdicts[name]
		if !ok || v.SHA256 != hex.EncodeToString(sum[:]) {
			t.Fatalf("did-jwt-vc's verdict on %s is missing or about another token: run node make-fixtures.mjs", name)
		}
		if !v.Verified || v.Issuer != issuer || v.Error != "" {
			t.Fatalf("did-jwt-vc on %s: %+v", name, v)
		}
	}
	// The format rules, checked here too: registered claims, vc/vp claim,
	// and a kid that the issuer's DID document lists.
	for name, claims := range map[string][]string{
		"trove-credential.jwt":   {"iss", "sub", "nbf", "exp", "jti", "vc"},
		"trove-presentation.jwt": {"iss", "aud", "nonce", "nbf", "exp", "jti", "vp"},
	} {
		tok := readFixture(t, name)
		hdr, payload, _ := segments(t, tok)
		var h struct{ Alg, Kid string }
		var p map[string]any
		if json.Unmarshal([]byte(hdr), &h) != nil || json.Unmarshal([]byte(payload), &p) != nil {
			t.Fatalf("%s does not decode", name)
		}
		for _, c := range claims {
			if _, ok := p[c]; !ok {
				t.Errorf("%s: no %s claim", name, c)
			}
		}
		doc, err := key.New().Read(p["iss"].(string))
		if err != nil {
			t.Fatal(err)
		}
		listed := false
		for _, vm := range doc.DIDDocument.VerificationMethod {
			listed = listed || vm.ID == h.Kid
		}
		if h.Alg != "EdDSA" || !listed {
			t.Fatalf("%s: alg %s, kid %s not in the DID document of its issuer", name, h.Alg, h.Kid)
		}
	}
}
