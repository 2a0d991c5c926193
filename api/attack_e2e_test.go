package api_test

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/trove-project/trove/api"
	"github.com/trove-project/trove/did"
	"github.com/trove-project/trove/examples"
)

// vpClaims returns the claims of a presentation of credential by the
// world's requester, bound to a fresh challenge.
func (w *world) vpClaims(credential any) map[string]any {
	w.t.Helper()
	ch, err := w.client.Challenge(w.ctx)
	if err != nil {
		w.t.Fatal(err)
	}
	now := w.clock.Now().Unix()
	return map[string]any{
		"iss": w.key.DID(), "aud": ch.Audience, "nonce": ch.Nonce, "jti": "urn:test:" + ch.Nonce,
		"iat": now, "nbf": now, "exp": now + 300,
		"vp": map[string]any{
			"@context":             []string{"https://www.w3.org/2018/credentials/v1"},
			"type":                 []string{"VerifiablePresentation"},
			"verifiableCredential": []any{credential},
		},
	}
}

// forgeToken signs header.payload with key, as an attacker's own code
// would; payload is JSON text or a value to marshal.
func forgeToken(key *did.Key, header string, payload any) string {
	p, ok := payload.(string)
	if !ok {
		b, _ := json.Marshal(payload)
		p = string(b)
	}
	input := base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + base64.RawURLEncoding.EncodeToString([]byte(p))
	return input + "." + base64.RawURLEncoding.EncodeToString(key.Sign([]byte(input)))
}

// The job-path attacks, each through the real HTTP API: refused with a
// precise reason, and the refusal logged.
func TestJobPathAttacks(t *testing.T) {
	w := newWorld(t)
	cred := w.consent("builtin:stats@1", 5, time.Hour)
	hdr := `{"alg":"EdDSA","typ":"JWT","kid":"` + w.key.KeyID() + `"}`
	other, err := did.FromSeed(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		body   func() api.JobBody
		reason string
	}{
		{"alg none", func() api.JobBody {
			tok := forgeToken(w.key, `{"alg":"none","typ":"JWT"}`, w.vpClaims(cred))
			return apiJob(tok[:strings.LastIndexByte(tok, '.')+1])
		}, "unsupported_alg"},
		{"presentation for another vault", func() api.JobBody {
			c := w.vpClaims(cred)
			c["aud"] = other.DID()
			return apiJob(forgeToken(w.key, hdr, c))
		}, "wrong_audience"},
		{"presentation not yet valid", func() api.JobBody {
			c := w.vpClaims(cred)
			c["nbf"] = w.clock.Now().Add(time.Hour).Unix()
			return apiJob(forgeToken(w.key, hdr, c))
		}, "not_yet_valid"},
		{"kid without fragment", func() api.JobBody {
			return apiJob(forgeToken(w.key, `{"alg":"EdDSA","typ":"JWT","kid":"`+w.key.DID()+`"}`, w.vpClaims(cred)))
		}, "bad_token"},
		{"kid of another DID", func() api.JobBody {
			return apiJob(forgeToken(other, `{"alg":"EdDSA","typ":"JWT","kid":"`+other.KeyID()+`"}`, w.vpClaims(cred)))
		}, "issuer_mismatch"},
		{"signed by another key", func() api.JobBody {
			return apiJob(forgeToken(other, hdr, w.vpClaims(cred)))
		}, "bad_signature"},
		{"unknown crit", func() api.JobBody {
			return apiJob(forgeToken(w.key, `{"alg":"EdDSA","typ":"JWT","crit":["exp"]}`, w.vpClaims(cred)))
		}, "bad_token"},
		{"credential as a JSON object", func() api.JobBody {
			return apiJob(forgeToken(w.key, hdr, w.vpClaims(map[string]any{"issuer": w.vault.DID(), "credentialSubject": map[string]any{}})))
		}, "bad_token"},
		{"duplicate keys", func() api.JobBody {
			b, _ := json.Marshal(w.vpClaims(cred))
			dup := strings.Replace(string(b), `{`, `{"nonce":"x",`, 1)
			return apiJob(forgeToken(w.key, hdr, dup))
		}, "bad_token"},
		{"deeply nested JSON", func() api.JobBody {
			c := w.vpClaims(cred)
			c["x"] = json.RawMessage(strings.Repeat("[", 20) + strings.Repeat("]", 20))
			return apiJob(forgeToken(w.key, hdr, c))
		}, "bad_token"},
		{"oversized presentation", func() api.JobBody {
			c := w.vpClaims(cred)
			c["pad"] = strings.Repeat("a", 64<<10)
			return apiJob(forgeToken(w.key, hdr, c))
		}, "too_large"},
		{"a module for a built-in consent", func() api.JobBody {
			return api.JobBody{Presentation: w.present(w.key, cred), Algorithm: "builtin:stats@1", Module: examples.ColStats()}
		}, "algorithm_mismatch"},
		{"another algorithm than consented", func() api.JobBody {
			return api.JobBody{Presentation: w.present(w.key, cred), Algorithm: "builtin:stats@2"}
		}, "algorithm_mismatch"},
	}
	// Not subtests: expectRefused fails the world's test.
	for _, tc := range tests {
		t.Log(tc.name)
		_, err := w.client.SubmitJob(w.ctx, tc.body())
		w.expectRefused(err, tc.reason)
	}
	// After all that, the consent is untouched.
	job, err := w.client.SubmitJob(w.ctx, apiJob(w.present(w.key, cred)))
	if err != nil || job.Claim == nil {
		t.Fatalf("a proper job after the attacks: %v", err)
	}
}
