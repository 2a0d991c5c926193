package api

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/trove-project/trove/did"
)

func TestParseSignatureInput(t *testing.T) {
	k, err := did.FromSeed(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", "http://vault.example:8470/v1/jobs?x=1", nil)
	if err := SignRequest(req, []byte("{}"), k, time.Unix(1700000000, 0), "0123456789abcdef"); err != nil {
		t.Fatal(err)
	}
	good := req.Header.Get("Signature-Input")
	p, err := parseSignatureInput(good)
	if err != nil {
		t.Fatal(err)
	}
	if p.keyID != k.KeyID() || p.created != 1700000000 || p.nonce != "0123456789abcdef" || p.serialize() != p.raw {
		t.Fatalf("parsed %+v", p)
	}
	base, err := signatureBase(req, contentDigest([]byte("{}")), p)
	if err != nil {
		t.Fatal(err)
	}
	want := `"@method": POST
"@authority": vault.example:8470
"@path": /v1/jobs
"@query": ?x=1
"content-digest": sha-256=:RBNvo1WzZ4oRRq0W9+hknpT7T8If536DEMBg9hyq/4o=:
"@signature-params": ` + good[len("trove="):]
	if base != want {
		t.Fatalf("signature base\n%s\nwant\n%s", base, want)
	}
	bad := map[string]string{
		"other label":         strings.Replace(good, "trove=", "sig1=", 1),
		"two members":         good + ", sig2=()",
		"missing component":   strings.Replace(good, ` "content-digest"`, "", 1),
		"repeated component":  strings.Replace(good, `"@query"`, `"@path"`, 1),
		"unknown component":   strings.Replace(good, `"@query"`, `"@target-uri"`, 1),
		"another alg":         strings.Replace(good, `alg="ed25519"`, `alg="hmac-sha256"`, 1),
		"no tag":              strings.Replace(good, `;tag="trove-requester"`, "", 1),
		"unknown parameter":   good + `;expires=1`,
		"repeated parameter":  good + `;created=1`,
		"short nonce":         strings.Replace(good, `nonce="0123456789abcdef"`, `nonce="0"`, 1),
		"created not integer": strings.Replace(good, "created=1700000000", "created=17e8", 1),
		"unterminated":        strings.TrimSuffix(good, `"`),
		"bad escape":          strings.Replace(good, `nonce="0123456789abcdef"`, `nonce="0123456789abcde\f"`, 1),
		"too long":            good + strings.Repeat(" ", maxSigHeader),
	}
	for name, h := range bad {
		t.Run(name, func(t *testing.T) {
			if p, err := parseSignatureInput(h); err == nil {
				t.Fatalf("accepted %+v", p)
			}
		})
	}
}

func FuzzParseSignatureInput(f *testing.F) {
	f.Add(`trove=("@method" "@authority" "@path" "@query" "content-digest");created=1;keyid="did:key:z#z";alg="ed25519";nonce="0123456789abcdef";tag="trove-requester"`)
	f.Add(`trove=("\"");created=1`)
	f.Fuzz(func(t *testing.T, h string) {
		p, err := parseSignatureInput(h)
		if err != nil {
			return
		}
		if len(p.components) != len(sigComponents) || p.alg != "ed25519" || p.tag != SigTag {
			t.Fatalf("accepted %+v", p)
		}
	})
}
