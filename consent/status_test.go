package consent

import (
	"bytes"
	"compress/gzip"
	"errors"
	"testing"
	"time"
)

func TestBitstringOrderAndRoundTrip(t *testing.T) {
	b := NewBitstring(StatusListBits)
	for _, i := range []int{0, 7, 8, 94567, StatusListBits - 1} {
		if !b.Set(i) || !b.Get(i) {
			t.Fatalf("bit %d not set", i)
		}
	}
	if b.Set(-1) || b.Set(StatusListBits) || b.Get(StatusListBits) || b.Get(1) {
		t.Fatal("out-of-range or clear bit reads as set")
	}
	// The standard numbers bits from the most significant of byte 0.
	if b[0] != 0x81 || b[1] != 0x80 {
		t.Fatalf("bytes %08b %08b", b[0], b[1])
	}
	enc, err := b.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeBitstring(enc)
	if err != nil || !bytes.Equal(got, b) {
		t.Fatalf("round trip: %v", err)
	}
}

// The empty 16 KiB list from the Bitstring Status List recommendation's
// examples decodes.
func TestDecodeBitstringOfTheStandard(t *testing.T) {
	b, err := DecodeBitstring("uH4sIAAAAAAAAA-3BMQEAAADCoPVPbQwfoAAAAAAAAAAAAAAAAAAAAIC3AYbSVKsAQAAA")
	if err != nil {
		t.Fatal(err)
	}
	if b.Len() != StatusListBits || !bytes.Equal(b, NewBitstring(StatusListBits)) {
		t.Fatalf("%d bits", b.Len())
	}
}

func gz(t *testing.T, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(data)
	zw.Close()
	return buf.Bytes()
}

func TestDecodeBitstringRefuses(t *testing.T) {
	bomb := "u" + b64.EncodeToString(gz(t, make([]byte, MaxStatusListBits/8+1)))
	two := gz(t, []byte{1})
	tests := map[string]string{
		"no multibase prefix":   b64.EncodeToString(gz(t, []byte{0})),
		"padded base64":         "u" + "H4sIAAAAAAAA==",
		"not gzip":              "u" + b64.EncodeToString([]byte("plain bits")),
		"truncated gzip":        "u" + b64.EncodeToString(gz(t, make([]byte, 64))[:20]),
		"inflates past the cap": bomb,
		"empty list":            "u" + b64.EncodeToString(gz(t, nil)),
		"two gzip members":      "u" + b64.EncodeToString(append(append([]byte{}, two...), two...)),
	}
	for name, s := range tests {
		t.Run(name, func(t *testing.T) {
			b, err := DecodeBitstring(s)
			if err == nil && name != "two gzip members" {
				t.Fatalf("accepted %d bits", b.Len())
			}
			// A second member is ignored, never read: the first one is the list.
			if name == "two gzip members" && (err != nil || b.Len() != 8) {
				t.Fatalf("two members: %v", err)
			}
		})
	}
}

func statusList(t testing.TB, k keys, revoked ...int) string {
	t.Helper()
	b := NewBitstring(StatusListBits)
	for _, i := range revoked {
		b.Set(i)
	}
	tok, err := IssueStatusList(k.owner, testStatus.ListCredential, b, now, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestStatusListCheck(t *testing.T) {
	k := testKeys(t)
	cred, err := VerifyCredential(issueCredential(t, k), now)
	if err != nil {
		t.Fatal(err)
	}
	if cred.Status != testStatus {
		t.Fatalf("status %+v", cred.Status)
	}
	check := func(tok string) error {
		t.Helper()
		l, err := VerifyStatusList(tok, now)
		if err != nil {
			t.Fatal(err)
		}
		return l.Check(cred)
	}
	if err := check(statusList(t, k, 1, 94566, 94568)); err != nil {
		t.Fatalf("neighbours revoked: %v", err)
	}
	wantCode(t, check(statusList(t, k, 94567)), ErrRevoked)

	other, err := IssueStatusList(k.mallory, testStatus.ListCredential, NewBitstring(StatusListBits), now, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, check(other), ErrStatusUnknown)
	elsewhere, err := IssueStatusList(k.owner, "https://vault.example/v1/status/2", NewBitstring(StatusListBits), now, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, check(elsewhere), ErrStatusUnknown)
	short, err := IssueStatusList(k.owner, testStatus.ListCredential, NewBitstring(1024), now, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, check(short), ErrStatusUnknown)
	if _, err := VerifyStatusList(statusList(t, k), now.Add(10*time.Minute)); !errors.Is(err, ErrExpired) {
		t.Fatalf("stale list: %v", err)
	}
}

func TestVerifyStatusListRefuses(t *testing.T) {
	k := testKeys(t)
	claims := func() map[string]any {
		return map[string]any{
			"iss": k.owner.DID(), "sub": testStatus.ListCredential, "iat": now.Unix(), "exp": now.Add(time.Minute).Unix(),
			"vc": map[string]any{
				"@context": []any{CredentialsContext},
				"type":     []any{"VerifiableCredential", StatusListCredentialType},
				"credentialSubject": map[string]any{
					"id": testStatus.ListCredential + "#list", "type": StatusListType, "statusPurpose": "revocation",
					"encodedList": "uH4sIAAAAAAAAA-3BMQEAAADCoPVPbQwfoAAAAAAAAAAAAAAAAAAAAIC3AYbSVKsAQAAA",
				},
			},
		}
	}
	hdr := header(k.owner.KeyID())
	if _, err := VerifyStatusList(forge(t, k.owner, hdr, claims()), now); err != nil {
		t.Fatalf("valid list: %v", err)
	}
	tests := map[string]func(map[string]any){
		"no exp":             func(c map[string]any) { delete(c, "exp") },
		"sub not a URL":      func(c map[string]any) { c["sub"] = "list-1" },
		"not a status list":  func(c map[string]any) { sub(c, "vc")["type"] = []any{"VerifiableCredential"} },
		"suspension purpose": func(c map[string]any) { sub(c, "vc", "credentialSubject")["statusPurpose"] = "suspension" },
		"subject type":       func(c map[string]any) { sub(c, "vc", "credentialSubject")["type"] = "StatusList2021" },
		"list not a string":  func(c map[string]any) { sub(c, "vc", "credentialSubject")["encodedList"] = 7 },
		"list not gzip":      func(c map[string]any) { sub(c, "vc", "credentialSubject")["encodedList"] = "uAAAA" },
	}
	for name, bend := range tests {
		t.Run(name, func(t *testing.T) {
			c := claims()
			bend(c)
			_, err := VerifyStatusList(forge(t, k.owner, hdr, c), now)
			wantCode(t, err, ErrBadToken)
		})
	}
	// A Consent credential is no status list, nor the reverse.
	_, err := VerifyStatusList(issueCredential(t, k), now)
	wantCode(t, err, ErrBadToken)
	_, err = VerifyCredential(statusList(t, k), now)
	wantCode(t, err, ErrBadToken)
}

func TestCredentialStatusRefused(t *testing.T) {
	k := testKeys(t)
	hdr := header(k.owner.KeyID())
	tests := map[string]func(st map[string]any){
		"wrong type":     func(st map[string]any) { st["type"] = "StatusList2021Entry" },
		"suspension":     func(st map[string]any) { st["statusPurpose"] = "suspension" },
		"index a number": func(st map[string]any) { st["statusListIndex"] = 94567 },
		"index leading zero": func(st map[string]any) {
			st["statusListIndex"] = "094567"
			st["id"] = testStatus.ListCredential + "#094567"
		},
		"index negative":  func(st map[string]any) { st["statusListIndex"] = "-1" },
		"index too large": func(st map[string]any) { st["statusListIndex"] = "99999999" },
		"list URL a URN":  func(st map[string]any) { st["statusListCredential"] = "urn:list:1" },
		"list URL query":  func(st map[string]any) { st["statusListCredential"] = "https://v.example/s?l=1" },
		"id elsewhere":    func(st map[string]any) { st["id"] = "https://evil.example/1#94567" },
	}
	for name, bend := range tests {
		t.Run(name, func(t *testing.T) {
			c := vcClaims(k)
			bend(sub(c, "vc", "credentialStatus"))
			_, err := VerifyCredential(forge(t, k.owner, hdr, c), now)
			wantCode(t, err, ErrBadToken)
		})
	}
	t.Run("missing", func(t *testing.T) {
		c := vcClaims(k)
		delete(sub(c, "vc"), "credentialStatus")
		_, err := VerifyCredential(forge(t, k.owner, hdr, c), now)
		wantCode(t, err, ErrBadToken)
	})
}

func FuzzDecodeBitstring(f *testing.F) {
	f.Add("uH4sIAAAAAAAAA-3BMQEAAADCoPVPbQwfoAAAAAAAAAAAAAAAAAAAAIC3AYbSVKsAQAAA")
	f.Add("u")
	f.Add("uH4sI")
	f.Fuzz(func(t *testing.T, s string) {
		b, err := DecodeBitstring(s)
		if err == nil && (b.Len() == 0 || b.Len() > MaxStatusListBits) {
			t.Fatalf("accepted %d bits", b.Len())
		}
	})
}

func FuzzVerifyStatusList(f *testing.F) {
	k := testKeys(f)
	f.Add(statusList(f, k, 3))
	f.Add("e30.e30.")
	f.Fuzz(func(t *testing.T, tok string) {
		l, err := VerifyStatusList(tok, now)
		if err == nil && (l.Issuer == "" || l.Bits.Len() == 0) {
			t.Fatalf("accepted a list without issuer or bits")
		}
	})
}
