package ledger_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/trove-project/trove/did"
	"github.com/trove-project/trove/ledger"
)

// receiptFixture is a vault's log of a few entries, one of them the entry
// a receipt points to, and the receipt bundle for it.
type receiptFixture struct {
	vault  *did.Key
	claims ledger.ReceiptClaims
	hashes ledger.MemoryHashes
	tree   *ledger.Tree
	bundle []byte
}

func sampleClaims(vault, requester *did.Key) ledger.ReceiptClaims {
	out := sha256.Sum256([]byte(`{"mean":1.5}`))
	digest := sha256.Sum256([]byte("dataset"))
	params := sha256.Sum256(nil)
	return ledger.ReceiptClaims{
		ID: "rcpt_1", JobID: "job_1", ConsentID: "urn:uuid:consent-1",
		Requester: requester.DID(), Vault: vault.DID(),
		DatasetDigest: hex.EncodeToString(digest[:]), Algorithm: "builtin:stats@1",
		ParamsSHA256: hex.EncodeToString(params[:]), OutputSHA256: hex.EncodeToString(out[:]),
		RowsRead: 569,
		IssuedAt: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC),
	}
}

// newReceipt logs three entries, the receipt's entry (after edit, if any),
// two more, and returns the bundle a vault would hand out.
func newReceipt(t testing.TB, edit func(*ledger.Entry)) receiptFixture {
	t.Helper()
	ctx := context.Background()
	vault, _ := testKey(t, 1)
	requester, _ := testKey(t, 9)
	f := receiptFixture{vault: vault, claims: sampleClaims(vault, requester), tree: ledger.NewTree()}
	add := func(e ledger.Entry) ([]byte, uint64) {
		b, err := e.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		lh := ledger.LeafHash(b)
		idx, err := f.tree.Append(lh)
		if err != nil {
			t.Fatal(err)
		}
		f.hashes = append(f.hashes, lh)
		return b, idx
	}
	filler := ledger.Entry{Type: ledger.JobAccepted, Time: f.claims.IssuedAt, Subject: requester.DID(), Fields: map[string]string{"job": "job_0"}}
	for range 3 {
		add(filler)
	}
	e := ledger.ReceiptEntry(f.claims)
	if edit != nil {
		edit(&e)
	}
	entry, idx := add(e)
	add(filler)
	add(filler)
	f.claims.LogIndex = idx
	f.claims.LeafHash = hex.EncodeToString(ledger.LeafHash(entry))
	token, err := ledger.IssueReceipt(vault, f.claims)
	if err != nil {
		t.Fatal(err)
	}
	root, err := f.tree.Root()
	if err != nil {
		t.Fatal(err)
	}
	cp, err := ledger.SignCheckpoint(vault, ledger.Checkpoint{Origin: vault.DID(), Size: f.tree.Size(), Root: root})
	if err != nil {
		t.Fatal(err)
	}
	proof, err := ledger.InclusionProof(ctx, f.hashes, idx, f.tree.Size())
	if err != nil {
		t.Fatal(err)
	}
	f.bundle, err = json.Marshal(ledger.Receipt{Receipt: token, Entry: entry, Checkpoint: string(cp), InclusionProof: proof})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// edited returns f's bundle after edit changes its decoded parts.
func (f receiptFixture) edited(t testing.TB, edit func(*ledger.Receipt)) []byte {
	t.Helper()
	var r ledger.Receipt
	if err := json.Unmarshal(f.bundle, &r); err != nil {
		t.Fatal(err)
	}
	edit(&r)
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// compactJWS builds a compact JWS by hand, for tokens no honest library
// would make.
func compactJWS(t testing.TB, header map[string]any, payload []byte, sign func([]byte) []byte) string {
	t.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	input := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(payload)
	return input + "." + base64.RawURLEncoding.EncodeToString(sign([]byte(input)))
}

func TestReceiptRoundTrip(t *testing.T) {
	f := newReceipt(t, nil)
	c, cp, err := ledger.VerifyReceipt(f.bundle, f.vault.DID())
	if err != nil {
		t.Fatal(err)
	}
	if *c != f.claims {
		t.Fatalf("claims = %+v, want %+v", *c, f.claims)
	}
	root, _ := f.tree.Root()
	if cp.Origin != f.vault.DID() || cp.Size != 6 || !bytes.Equal(cp.Root, root) || c.LogIndex != 3 {
		t.Fatalf("checkpoint %+v, index %d", cp, c.LogIndex)
	}
	// A requester may store receipt.json pretty-printed.
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, f.bundle, "", "  "); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ledger.VerifyReceipt(pretty.Bytes(), f.vault.DID()); err != nil {
		t.Fatalf("pretty-printed bundle: %v", err)
	}
}

// TestReceiptJWSVerifiesWithJWX checks the receipt with jwx alone: an
// EdDSA compact JWS whose kid is the vault's key id.
func TestReceiptJWSVerifiesWithJWX(t *testing.T) {
	f := newReceipt(t, nil)
	var r ledger.Receipt
	if err := json.Unmarshal(f.bundle, &r); err != nil {
		t.Fatal(err)
	}
	payload, err := jws.Verify([]byte(r.Receipt), jws.WithKey(jwa.EdDSA(), f.vault.Public()))
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	if claims["iss"] != f.vault.DID() || claims["jti"] != "rcpt_1" || claims["iat"] != float64(f.claims.IssuedAt.Unix()) {
		t.Fatalf("claims %v", claims)
	}
	msg, err := jws.Parse([]byte(r.Receipt))
	if err != nil {
		t.Fatal(err)
	}
	h := msg.Signatures()[0].ProtectedHeaders()
	kid, _ := h.KeyID()
	typ, _ := h.Type()
	if kid != f.vault.KeyID() || typ != "JWT" {
		t.Fatalf("kid %q typ %q", kid, typ)
	}
}

// TestVerifyReceiptRefusesEveryFlippedByte changes each byte of the
// bundle in turn; no change may go unnoticed.
func TestVerifyReceiptRefusesEveryFlippedByte(t *testing.T) {
	f := newReceipt(t, nil)
	for i := range f.bundle {
		for _, m := range flipMasks[:2] {
			if _, _, err := ledger.VerifyReceipt(flippedBits(f.bundle, i, m), f.vault.DID()); err == nil {
				t.Errorf("byte %d (%q) ^ %#x: accepted", i, f.bundle[i], m)
			}
		}
	}
}

func TestVerifyReceiptRefusesTamperedParts(t *testing.T) {
	f := newReceipt(t, nil)
	other, _ := testKey(t, 2)
	ctx := context.Background()
	root5, _ := ledger.RestoreTree(0, nil)
	for _, h := range f.hashes[:3] {
		root5.Append(h)
	}
	oldRoot, _ := root5.Root()
	oldCheckpoint, err := ledger.SignCheckpoint(f.vault, ledger.Checkpoint{Origin: f.vault.DID(), Size: 3, Root: oldRoot})
	if err != nil {
		t.Fatal(err)
	}
	otherRoot, _ := f.tree.Root()
	otherCheckpoint, err := ledger.SignCheckpoint(other, ledger.Checkpoint{Origin: other.DID(), Size: 6, Root: otherRoot})
	if err != nil {
		t.Fatal(err)
	}
	longer := append(ledger.MemoryHashes(nil), f.hashes...)
	longer = append(longer, ledger.LeafHash([]byte("later")))
	longTree, _ := ledger.RestoreTree(f.tree.Size(), f.tree.Hashes())
	longTree.Append(longer[6])
	longRoot, _ := longTree.Root()
	longCheckpoint, err := ledger.SignCheckpoint(f.vault, ledger.Checkpoint{Origin: f.vault.DID(), Size: 7, Root: longRoot})
	if err != nil {
		t.Fatal(err)
	}
	longProof, err := ledger.InclusionProof(ctx, longer, 3, 7)
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		edit func(*ledger.Receipt)
		want error
	}{
		"JWS signature": {func(r *ledger.Receipt) {
			parts := strings.Split(r.Receipt, ".")
			sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
			sig[10] ^= 1
			r.Receipt = parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sig)
		}, ledger.ErrBadSignature},
		"JWS payload": {func(r *ledger.Receipt) {
			parts := strings.Split(r.Receipt, ".")
			p, _ := base64.RawURLEncoding.DecodeString(parts[1])
			p = bytes.Replace(p, []byte(`"job_1"`), []byte(`"job_2"`), 1)
			r.Receipt = parts[0] + "." + base64.RawURLEncoding.EncodeToString(p) + "." + parts[2]
		}, ledger.ErrBadSignature},
		"entry byte":        {func(r *ledger.Receipt) { r.Entry[20] ^= 1 }, ledger.ErrMismatch},
		"other entry":       {func(r *ledger.Receipt) { r.Entry = []byte(`{"type":"job.accepted","time":"2025-03-01T12:00:00Z"}`) }, ledger.ErrMismatch},
		"proof hash":        {func(r *ledger.Receipt) { r.InclusionProof[1][0] ^= 1 }, ledger.ErrNotIncluded},
		"proof dropped":     {func(r *ledger.Receipt) { r.InclusionProof = r.InclusionProof[1:] }, ledger.ErrNotIncluded},
		"proof empty":       {func(r *ledger.Receipt) { r.InclusionProof = nil }, ledger.ErrNotIncluded},
		"checkpoint byte":   {func(r *ledger.Receipt) { r.Checkpoint = string(flipped([]byte(r.Checkpoint), 60)) }, ledger.ErrBadSignature},
		"older checkpoint":  {func(r *ledger.Receipt) { r.Checkpoint = string(oldCheckpoint) }, ledger.ErrNotIncluded},
		"newer, old proof":  {func(r *ledger.Receipt) { r.Checkpoint = string(longCheckpoint) }, ledger.ErrNotIncluded},
		"other vault's":     {func(r *ledger.Receipt) { r.Checkpoint = string(otherCheckpoint) }, ledger.ErrBadSignature},
		"no checkpoint":     {func(r *ledger.Receipt) { r.Checkpoint = "" }, ledger.ErrMalformed},
		"no JWS":            {func(r *ledger.Receipt) { r.Receipt = "" }, ledger.ErrMalformed},
		"JWS with 2 parts":  {func(r *ledger.Receipt) { r.Receipt = r.Receipt[:strings.LastIndex(r.Receipt, ".")] }, ledger.ErrMalformed},
		"JWE-shaped 5 part": {func(r *ledger.Receipt) { r.Receipt += ".a.b" }, ledger.ErrMalformed},
		"JWS too large":     {func(r *ledger.Receipt) { r.Receipt = strings.Repeat("a", 20<<10) }, ledger.ErrTooLarge},
	}
	for name, c := range cases {
		b := f.edited(t, c.edit)
		if _, _, err := ledger.VerifyReceipt(b, f.vault.DID()); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", name, err, c.want)
		}
	}
	// The same newer checkpoint with its own proof is fine: a receipt may
	// be re-proved against any later checkpoint.
	b := f.edited(t, func(r *ledger.Receipt) { r.Checkpoint, r.InclusionProof = string(longCheckpoint), longProof })
	if _, cp, err := ledger.VerifyReceipt(b, f.vault.DID()); err != nil || cp.Size != 7 {
		t.Errorf("re-proved against a later checkpoint: %v", err)
	}
}

// TestVerifyReceiptRefusesForgedJWS covers the JOSE attacks: alg none, an
// HMAC keyed with the public key, headers that change verification, and
// tokens by other keys or naming other vaults.
func TestVerifyReceiptRefusesForgedJWS(t *testing.T) {
	f := newReceipt(t, nil)
	other, _ := testKey(t, 2)
	payload, err := json.Marshal(f.claims)
	if err != nil {
		t.Fatal(err)
	}
	otherIss := f.claims
	otherIss.Vault = other.DID()
	otherPayload, _ := json.Marshal(otherIss)
	none := func([]byte) []byte { return nil }
	hs256, err := jws.Sign(payload, jws.WithKey(jwa.HS256(), []byte(f.vault.Public())))
	if err != nil {
		t.Fatal(err)
	}
	kid := f.vault.KeyID()
	cases := map[string]struct {
		token string
		want  error
	}{
		"alg none":              {compactJWS(t, map[string]any{"alg": "none", "kid": kid}, payload, none), ledger.ErrBadSignature},
		"alg none, EdDSA sig":   {compactJWS(t, map[string]any{"alg": "none", "kid": kid}, payload, f.vault.Sign), ledger.ErrBadSignature},
		"HS256 with public key": {string(hs256), ledger.ErrBadSignature},
		"alg Ed25519":           {compactJWS(t, map[string]any{"alg": "Ed25519", "kid": kid}, payload, f.vault.Sign), ledger.ErrBadSignature},
		"no alg":                {compactJWS(t, map[string]any{"kid": kid}, payload, f.vault.Sign), ledger.ErrBadSignature},
		"crit":                  {compactJWS(t, map[string]any{"alg": "EdDSA", "kid": kid, "crit": []string{"exp"}, "exp": 1}, payload, f.vault.Sign), ledger.ErrMalformed},
		"b64 false":             {compactJWS(t, map[string]any{"alg": "EdDSA", "kid": kid, "b64": false}, payload, f.vault.Sign), ledger.ErrMalformed},
		"embedded jwk":          {compactJWS(t, map[string]any{"alg": "EdDSA", "jwk": map[string]string{"kty": "OKP"}}, payload, f.vault.Sign), ledger.ErrMalformed},
		"typ other":             {compactJWS(t, map[string]any{"alg": "EdDSA", "typ": "JWE"}, payload, f.vault.Sign), ledger.ErrMalformed},
		"other key, own kid":    {compactJWS(t, map[string]any{"alg": "EdDSA", "kid": other.KeyID()}, payload, other.Sign), ledger.ErrWrongVault},
		"other key, vault kid":  {compactJWS(t, map[string]any{"alg": "EdDSA", "kid": kid}, payload, other.Sign), ledger.ErrBadSignature},
		"other key, no kid":     {compactJWS(t, map[string]any{"alg": "EdDSA"}, payload, other.Sign), ledger.ErrBadSignature},
		"kid of another DID":    {compactJWS(t, map[string]any{"alg": "EdDSA", "kid": f.vault.DID() + "#" + strings.TrimPrefix(other.DID(), "did:key:")}, payload, f.vault.Sign), ledger.ErrWrongVault},
		"other issuer":          {compactJWS(t, map[string]any{"alg": "EdDSA"}, otherPayload, f.vault.Sign), ledger.ErrWrongVault},
		"claims not JSON":       {compactJWS(t, map[string]any{"alg": "EdDSA"}, []byte("receipt"), f.vault.Sign), ledger.ErrMalformed},
		"claims extra field":    {compactJWS(t, map[string]any{"alg": "EdDSA"}, append(payload[:len(payload)-1:len(payload)-1], `,"admin":true}`...), f.vault.Sign), ledger.ErrMalformed},
		"claims missing field":  {compactJWS(t, map[string]any{"alg": "EdDSA"}, bytes.Replace(payload, []byte(`"job_1"`), []byte(`""`), 1), f.vault.Sign), ledger.ErrMalformed},
	}
	for name, c := range cases {
		b := f.edited(t, func(r *ledger.Receipt) { r.Receipt = c.token })
		if _, _, err := ledger.VerifyReceipt(b, f.vault.DID()); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", name, err, c.want)
		}
	}
	// Without a kid, the vault's own signature is enough.
	b := f.edited(t, func(r *ledger.Receipt) {
		r.Receipt = compactJWS(t, map[string]any{"alg": "EdDSA"}, payload, f.vault.Sign)
	})
	if _, _, err := ledger.VerifyReceipt(b, f.vault.DID()); err != nil {
		t.Errorf("vault-signed receipt without kid: %v", err)
	}
}

func TestVerifyReceiptRefusesEntryThatSaysOtherwise(t *testing.T) {
	edits := map[string]func(*ledger.Entry){
		"type":      func(e *ledger.Entry) { e.Type = ledger.RunFinished },
		"subject":   func(e *ledger.Entry) { e.Subject = "did:key:z6MkOther" },
		"job":       func(e *ledger.Entry) { e.Fields["job"] = "job_2" },
		"no output": func(e *ledger.Entry) { delete(e.Fields, "output_sha256") },
		"rows":      func(e *ledger.Entry) { e.Fields["rows_read"] = "570" },
		"params":    func(e *ledger.Entry) { delete(e.Fields, "params_sha256") },
	}
	for name, edit := range edits {
		f := newReceipt(t, edit)
		if _, _, err := ledger.VerifyReceipt(f.bundle, f.vault.DID()); !errors.Is(err, ledger.ErrMismatch) {
			t.Errorf("%s: got %v, want ErrMismatch", name, err)
		}
	}
	f := newReceipt(t, func(e *ledger.Entry) { e.Fields["note"] = "extra" })
	if _, _, err := ledger.VerifyReceipt(f.bundle, f.vault.DID()); err != nil {
		t.Errorf("entry with an extra field: %v", err)
	}
}

func TestVerifyReceiptRefusesMalformedBundles(t *testing.T) {
	f := newReceipt(t, nil)
	var w map[string]any
	if err := json.Unmarshal(f.bundle, &w); err != nil {
		t.Fatal(err)
	}
	rewrite := func(edit func(map[string]any)) []byte {
		m := make(map[string]any, len(w))
		for k, v := range w {
			m[k] = v
		}
		edit(m)
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	entry := w["entry"].(string)
	unpadded := strings.TrimRight(entry, "=")
	if unpadded == entry { // the fixture needs no padding: cut a character instead
		unpadded = entry[:len(entry)-1]
	}
	cases := map[string][]byte{
		"unknown field":      rewrite(func(m map[string]any) { m["note"] = "x" }),
		"key case":           rewrite(func(m map[string]any) { m["Entry"] = m["entry"]; delete(m, "entry") }),
		"proof null":         rewrite(func(m map[string]any) { m["inclusion_proof"] = nil }),
		"proof too long":     rewrite(func(m map[string]any) { m["inclusion_proof"] = make([]string, 70) }),
		"unpadded entry":     rewrite(func(m map[string]any) { m["entry"] = unpadded }),
		"URL base64 entry":   rewrite(func(m map[string]any) { m["entry"] = base64.URLEncoding.EncodeToString([]byte{0xfb, 0xff}) }),
		"entry with newline": rewrite(func(m map[string]any) { m["entry"] = entry[:8] + "\n" + entry[8:] }),
		"duplicate key":      append(bytes.TrimSuffix(bytes.Clone(f.bundle), []byte("}")), []byte(`,"entry":"e30="}`)...),
		"trailing data":      append(bytes.Clone(f.bundle), []byte(`{}`)...),
		"array":              []byte(`[]`),
		"empty":              nil,
	}
	for name, b := range cases {
		if _, _, err := ledger.VerifyReceipt(b, f.vault.DID()); !errors.Is(err, ledger.ErrMalformed) {
			t.Errorf("%s: got %v, want ErrMalformed", name, err)
		}
	}
	big := append(bytes.Clone(f.bundle), bytes.Repeat([]byte(" "), ledger.MaxReceiptSize)...)
	if _, _, err := ledger.VerifyReceipt(big, f.vault.DID()); !errors.Is(err, ledger.ErrTooLarge) {
		t.Errorf("too large: %v", err)
	}
	if _, _, err := ledger.VerifyReceipt(f.bundle, "did:web:vault.example"); !errors.Is(err, did.ErrInvalid) {
		t.Errorf("vault not a did:key: %v", err)
	}
	other, _ := testKey(t, 2)
	if _, _, err := ledger.VerifyReceipt(f.bundle, other.DID()); !errors.Is(err, ledger.ErrWrongVault) {
		t.Errorf("verified as another vault's receipt: %v", err)
	}
}

func TestIssueReceiptRefuses(t *testing.T) {
	vault, _ := testKey(t, 1)
	requester, _ := testKey(t, 9)
	good := sampleClaims(vault, requester)
	good.LeafHash = strings.Repeat("ab", 32)
	if _, err := ledger.IssueReceipt(vault, good); err != nil {
		t.Fatal(err)
	}
	cases := map[string]func(*ledger.ReceiptClaims){
		"other vault":      func(c *ledger.ReceiptClaims) { c.Vault = requester.DID() },
		"no id":            func(c *ledger.ReceiptClaims) { c.ID = "" },
		"no consent":       func(c *ledger.ReceiptClaims) { c.ConsentID = "" },
		"requester no DID": func(c *ledger.ReceiptClaims) { c.Requester = "acme" },
		"output uppercase": func(c *ledger.ReceiptClaims) { c.OutputSHA256 = strings.ToUpper(c.OutputSHA256) },
		"leaf hash short":  func(c *ledger.ReceiptClaims) { c.LeafHash = "abcd" },
		"no params hash":   func(c *ledger.ReceiptClaims) { c.ParamsSHA256 = "" },
		"no time":          func(c *ledger.ReceiptClaims) { c.IssuedAt = time.Time{} },
	}
	for name, edit := range cases {
		c := good
		edit(&c)
		if _, err := ledger.IssueReceipt(vault, c); err == nil {
			t.Errorf("%s: issued", name)
		}
	}
}

func FuzzVerifyReceipt(f *testing.F) {
	fx := newReceipt(f, nil)
	f.Add(fx.bundle)
	f.Add(flipped(fx.bundle, 40))
	f.Add([]byte(`{"receipt":"a.b.c","entry":"","checkpoint":"","inclusion_proof":[]}`))
	f.Add([]byte(`{"receipt":"eyJhbGciOiJub25lIn0.e30.","entry":"e30=","checkpoint":"x\n\n","inclusion_proof":null}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		c, cp, err := ledger.VerifyReceipt(in, fx.vault.DID())
		if err != nil {
			return
		}
		// Only the vault can have made anything that verifies.
		if c.Vault != fx.vault.DID() || cp.Origin != fx.vault.DID() || c.LogIndex >= cp.Size {
			t.Fatalf("verified %+v under %+v", c, cp)
		}
	})
}
