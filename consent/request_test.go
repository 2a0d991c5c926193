package consent

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func testRequest(k keys) Request {
	return Request{
		ID: "req-7f3a", Vault: k.owner.DID(), Dataset: "breast_cancer", Algorithm: wasmDigest,
		Purpose: "Train a tumour classifier.", PurposeCode: PurposeModelTraining, MaxRuns: 10,
		Output: OutputPolicy{Policy: OutputReview}, Price: Money{Amount: 250, Currency: "USDC"}, Per: Per1000Rows,
		ExpiresAt: now.Add(30 * 24 * time.Hour),
	}
}

func TestRequestRoundTrip(t *testing.T) {
	k := testKeys(t)
	r := testRequest(k)
	tok, err := SignRequest(k.requester, r, now.Add(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	got, err := VerifyRequest(tok, k.owner.DID(), now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	r.Requester, r.CreatedAt = k.requester.DID(), now
	if !reflect.DeepEqual(*got, r) {
		t.Fatalf("got %+v\nwant %+v", *got, r)
	}
	hdr, _, _ := segments(t, tok)
	if !strings.Contains(hdr, `"typ":"`+TypeRequest+`"`) {
		t.Fatalf("header %s", hdr)
	}
}

func TestRequestBadFields(t *testing.T) {
	k := testKeys(t)
	tests := []struct {
		name   string
		change func(*Request)
		field  string
	}{
		{"no id", func(r *Request) { r.ID = "" }, "jti"},
		{"id with a space", func(r *Request) { r.ID = "req 1" }, "jti"},
		{"vault not a DID", func(r *Request) { r.Vault = "vault.example" }, "aud"},
		{"no dataset", func(r *Request) { r.Dataset = "" }, "dataset"},
		{"dataset with a slash", func(r *Request) { r.Dataset = "../etc" }, "dataset"},
		{"algorithm in uppercase hex", func(r *Request) { r.Algorithm = strings.ToUpper(wasmDigest) }, "algorithm"},
		{"algorithm a short hash", func(r *Request) { r.Algorithm = wasmDigest[:60] }, "algorithm"},
		{"built-in without version", func(r *Request) { r.Algorithm = "builtin:stats" }, "algorithm"},
		{"no purpose", func(r *Request) { r.Purpose = "  " }, "purpose"},
		{"purpose of 501 characters", func(r *Request) { r.Purpose = strings.Repeat("é", 501) }, "purpose"},
		{"purpose with a control character", func(r *Request) { r.Purpose = "research\x1b[2J" }, "purpose"},
		{"purpose with a bidi override", func(r *Request) { r.Purpose = "research \u202egnitekram" }, "purpose"},
		{"no runs", func(r *Request) { r.MaxRuns = 0 }, "maxRuns"},
		{"too many runs", func(r *Request) { r.MaxRuns = MaxRuns + 1 }, "maxRuns"},
		{"negative price", func(r *Request) { r.Price.Amount = -1 }, "price.amount"},
		{"currency in lowercase", func(r *Request) { r.Price.Currency = "eur" }, "price.currency"},
		{"currency too long", func(r *Request) { r.Price.Currency = "ABCDEFGHIJKLM" }, "price.currency"},
		{"consent ending in the past", func(r *Request) { r.ExpiresAt = now.Add(-time.Hour) }, "exp"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := testRequest(k)
			tc.change(&r)
			_, err := SignRequest(k.requester, r, now)
			wantCode(t, err, ErrInvalidRequest)
			if e := err.(*Error); e.Field != tc.field {
				t.Fatalf("field %q, want %q", e.Field, tc.field)
			}
		})
	}
	// The purpose at its limit passes.
	r := testRequest(k)
	r.Purpose = strings.Repeat("é", MaxPurposeLen)
	if _, err := SignRequest(k.requester, r, now); err != nil {
		t.Fatal(err)
	}
}

// Requests not made by SignRequest: the verifier applies the same rules.
func TestVerifyRequestRefuses(t *testing.T) {
	k := testKeys(t)
	hdr := `{"alg":"EdDSA","typ":"` + TypeRequest + `","kid":"` + k.requester.KeyID() + `"}`
	claims := func() map[string]any {
		return map[string]any{
			"iss": k.requester.DID(), "aud": k.owner.DID(), "jti": "req-1",
			"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
			requestClaim: map[string]any{
				"dataset": "breast_cancer", "algorithm": "builtin:stats@1", "purpose": "research",
				"maxRuns": 2, "price": map[string]any{"amount": 0, "currency": "EUR", "per": "run"},
				"purposeCode": "research", "columns": []any{"radius"},
				"output": map[string]any{"policy": "dp", "epsilon": 1, "delta": 0},
			},
		}
	}
	good, err := SignRequest(k.requester, testRequest(k), now)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		tok   func() string
		at    time.Duration // after now
		want  Code
		field string
	}{
		{"valid", func() string { return forge(t, k.requester, hdr, claims()) }, 0, "", ""},
		{"addressed to another vault", func() string {
			c := claims()
			c["aud"] = k.mallory.DID()
			return forge(t, k.requester, hdr, c)
		}, 0, ErrWrongAudience, "aud"},
		{"maxRuns as a string", func() string {
			c := claims()
			sub(c, requestClaim)["maxRuns"] = "2"
			return forge(t, k.requester, hdr, c)
		}, 0, ErrInvalidRequest, "maxRuns"},
		{"amount as a float", func() string {
			c := claims()
			sub(c, requestClaim, "price")["amount"] = 2.5
			return forge(t, k.requester, hdr, c)
		}, 0, ErrInvalidRequest, "price.amount"},
		{"no purpose code", func() string {
			c := claims()
			delete(sub(c, requestClaim), "purposeCode")
			return forge(t, k.requester, hdr, c)
		}, 0, ErrInvalidRequest, "purposeCode"},
		{"columns not an array", func() string {
			c := claims()
			sub(c, requestClaim)["columns"] = "radius"
			return forge(t, k.requester, hdr, c)
		}, 0, ErrInvalidRequest, "columns"},
		{"epsilon as a string", func() string {
			c := claims()
			sub(c, requestClaim, "output")["epsilon"] = "1"
			return forge(t, k.requester, hdr, c)
		}, 0, ErrInvalidRequest, "output.epsilon"},
		{"dp with a negative delta", func() string {
			c := claims()
			sub(c, requestClaim, "output")["delta"] = -0.1
			return forge(t, k.requester, hdr, c)
		}, 0, ErrInvalidRequest, "output"},
		{"no price unit", func() string {
			c := claims()
			delete(sub(c, requestClaim, "price"), "per")
			return forge(t, k.requester, hdr, c)
		}, 0, ErrInvalidRequest, "price.per"},
		{"no request claim", func() string {
			c := claims()
			delete(c, requestClaim)
			return forge(t, k.requester, hdr, c)
		}, 0, ErrInvalidRequest, requestClaim},
		{"no iat", func() string {
			c := claims()
			delete(c, "iat")
			return forge(t, k.requester, hdr, c)
		}, 0, ErrInvalidRequest, "iat"},
		{"typ JWT", func() string { return forge(t, k.requester, header(k.requester.KeyID()), claims()) }, 0, ErrBadToken, "typ"},
		{"no typ", func() string { return forge(t, k.requester, `{"alg":"EdDSA"}`, claims()) }, 0, ErrBadToken, "typ"},
		{"a credential", func() string { return issueCredential(t, k) }, 0, ErrBadToken, "typ"},
		{"consent already over", func() string { return good }, 31 * 24 * time.Hour, ErrExpired, "exp"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := VerifyRequest(tc.tok(), k.owner.DID(), now.Add(tc.at))
			wantCode(t, err, tc.want)
			if err != nil && err.(*Error).Field != tc.field {
				t.Fatalf("field %q, want %q", err.(*Error).Field, tc.field)
			}
		})
	}
	// A request passes for neither a credential nor a presentation.
	_, err = VerifyCredential(good, now)
	wantCode(t, err, ErrBadToken)
	_, err = VerifyPresentation(good, k.owner.DID(), now)
	wantCode(t, err, ErrBadToken)
}
