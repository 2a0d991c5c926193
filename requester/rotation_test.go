package requester_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
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
	"github.com/trove-project/trove/ledger"
	"github.com/trove-project/trove/vault"
)

// tamperProxy is a real HTTP server in front of a vault's API that
// answers some paths with bodies of the test's choosing: a vault (or a
// man in the middle) serving forged material.
type tamperProxy struct {
	url string
	mu  sync.Mutex
	fix map[string][]byte
}

func newTamperProxy(t *testing.T, target string) *tamperProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &tamperProxy{fix: map[string][]byte{}}
	rp := httputil.NewSingleHostReverseProxy(u)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		body, ok := p.fix[r.URL.Path]
		p.mu.Unlock()
		if ok {
			w.Write(body)
			return
		}
		rp.ServeHTTP(w, r)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	p.url = "http://" + ln.Addr().String()
	return p
}

func (p *tamperProxy) serve(path string, body []byte) {
	p.mu.Lock()
	p.fix[path] = body
	p.mu.Unlock()
}

// rotatedServed is a served vault that ran a job (so the requester keeps
// a checkpoint from its first DID) and then rotated its key; the test
// holds both keys, as an attacker holding them would.
type rotatedServed struct {
	*served
	oldKey, newKey *did.Key
	proxy          *tamperProxy
	client         *api.Client // through the proxy
}

func newRotatedServed(t *testing.T) *rotatedServed {
	t.Helper()
	ctx := context.Background()
	s := newServed(t)
	s.run(t)
	oldKey := ownerKey(t, s.home)
	if _, err := s.vault.Rotate(ctx, []byte("p")); err != nil {
		t.Fatal(err)
	}
	newKey := ownerKey(t, s.home)
	p := newTamperProxy(t, s.client.BaseURL())
	c, err := api.NewClient(p.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &rotatedServed{served: s, oldKey: oldKey, newKey: newKey, proxy: p, client: c}
}

func ownerKey(t *testing.T, home string) *did.Key {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(home, vault.KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	k, err := did.Unseal(b, []byte("p"))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// nothingRekeyed checks that the requester changed none of its kept
// state: no succession remembered, no checkpoint kept under the new DID.
func (s *rotatedServed) nothingRekeyed(t *testing.T) {
	t.Helper()
	if succ, err := s.req.Successors(s.oldKey.DID()); err != nil || len(succ) != 0 {
		t.Errorf("successors remembered: %v, %v", succ, err)
	}
	if _, err := os.Stat(filepath.Join(s.req.Home(), "checkpoints", strings.ReplaceAll(strings.ReplaceAll(s.newKey.DID(), ":", "_"), "#", "_")+".txt")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a checkpoint is kept under the new DID: %v", err)
	}
}

func (s *rotatedServed) chain(t *testing.T) []ledger.RotationLink {
	t.Helper()
	links, err := s.vault.Rotations(context.Background())
	if err != nil || len(links) != 1 {
		t.Fatalf("chain: %d links, %v", len(links), err)
	}
	return links
}

func marshalChain(t *testing.T, links []ledger.RotationLink) []byte {
	t.Helper()
	b, err := ledger.MarshalRotationChain(links)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func signedCheckpoint(t *testing.T, k *did.Key, size uint64, root []byte) []byte {
	t.Helper()
	b, err := ledger.SignCheckpoint(k, ledger.Checkpoint{Origin: k.DID(), Size: size, Root: root})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The requester follows a rotation only through a chain that verifies
// and extends what it kept; each forgery is refused with its reason and
// nothing is re-keyed. The last case is the real chain: followed.
func TestFollowRotationRefusesForgedChains(t *testing.T) {
	ctx := context.Background()
	s := newRotatedServed(t)
	mallory, err := did.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	real := s.chain(t)
	size, err := s.vault.LogSize(ctx)
	if err != nil {
		t.Fatal(err)
	}
	handover, err := ledger.OpenCheckpoint([]byte(real[0].Handover), s.oldKey.DID())
	if err != nil {
		t.Fatal(err)
	}
	random := bytes.Repeat([]byte{0xab}, 32)

	// A log of the attacker's own, with a valid rotation by the old key to
	// the new one: its handover does not extend the checkpoint the
	// requester kept from the old DID.
	forkTree := ledger.NewTree()
	var forkLeaves ledger.MemoryHashes
	for i := range 3 {
		b, _ := ledger.Entry{Type: ledger.OwnerLogin, Time: time.Now(), Subject: "x", Fields: map[string]string{"i": string(rune('a' + i))}}.Marshal()
		h := ledger.LeafHash(b)
		forkTree.Append(h)
		forkLeaves = append(forkLeaves, h)
	}
	forkRoot, _ := forkTree.Root()
	rot := ledger.Rotation{ID: "urn:uuid:fork", Old: s.oldKey.DID(), New: s.newKey.DID(), IssuedAt: time.Now(), LogSize: 3, LogRoot: forkRoot}
	fst, fco, err := ledger.SignRotation(s.oldKey, s.newKey, rot)
	if err != nil {
		t.Fatal(err)
	}
	fentry, _ := ledger.RotationEntry(rot, ledger.StatementHash(fst)).Marshal()
	forkTree.Append(ledger.LeafHash(fentry))
	forkLeaves = append(forkLeaves, ledger.LeafHash(fentry))
	fRoot, _ := forkTree.Root()
	forkLink := ledger.RotationLink{Statement: fst, Cosignature: fco, Index: 3, Entry: fentry,
		Handover: string(signedCheckpoint(t, s.oldKey, 4, fRoot)), Successor: string(signedCheckpoint(t, s.newKey, 4, fRoot)), ChainProof: [][]byte{}}
	forkLink.InclusionProof, _ = ledger.InclusionProof(ctx, forkLeaves, 3, 4)
	forkLink.StatementProof, _ = ledger.ConsistencyProof(ctx, forkLeaves, 3, 4)
	forkCurrent := signedCheckpoint(t, s.newKey, 4, fRoot)

	malloryLink := real[0]
	mst, mco, err := ledger.SignRotation(mallory, s.newKey, ledger.Rotation{ID: "urn:uuid:m", Old: mallory.DID(), New: s.newKey.DID(), IssuedAt: time.Now(), LogSize: handover.Size - 1, LogRoot: random})
	if err != nil {
		t.Fatal(err)
	}
	malloryLink.Statement, malloryLink.Cosignature = mst, mco
	_, otherCo, err := ledger.SignRotation(s.oldKey, mallory, ledger.Rotation{ID: "urn:uuid:o", Old: s.oldKey.DID(), New: mallory.DID(), IssuedAt: time.Now(), LogSize: handover.Size - 1, LogRoot: random})
	if err != nil {
		t.Fatal(err)
	}
	notCosigned := real[0]
	notCosigned.Cosignature = otherCo
	otherTree := real[0]
	otherTree.Handover = string(signedCheckpoint(t, s.oldKey, handover.Size, random))

	cases := []struct {
		name       string
		chain      []byte
		checkpoint []byte
		reason     string
	}{
		{"no chain", []byte(`{"rotations":[]}`), nil, "bad_rotation"},
		{"statement not signed by the old key", marshalChain(t, []ledger.RotationLink{malloryLink}), nil, "bad_rotation"},
		{"statement not co-signed by the new key", marshalChain(t, []ledger.RotationLink{notCosigned}), nil, "bad_rotation"},
		{"handover over another tree", marshalChain(t, []ledger.RotationLink{otherTree}), nil, "bad_rotation"},
		{"handover does not extend the kept checkpoint", marshalChain(t, []ledger.RotationLink{forkLink}), forkCurrent, "log_rewritten"},
		{"current checkpoint does not extend the handover", nil, signedCheckpoint(t, s.newKey, size, random), "log_rewritten"},
		{"current checkpoint by another DID", nil, signedCheckpoint(t, mallory, size, random), "bad_rotation"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s.proxy.mu.Lock()
			s.proxy.fix = map[string][]byte{}
			s.proxy.mu.Unlock()
			if c.chain != nil {
				s.proxy.serve("/v1/did/rotations", c.chain)
			}
			if c.checkpoint != nil {
				s.proxy.serve("/v1/log/checkpoint", c.checkpoint)
			}
			_, err := s.req.RunJob(ctx, s.client, s.credential, nil, nil)
			if trove.ErrorReason(err) != c.reason || trove.ErrorCode(err) != trove.EFORBIDDEN {
				t.Fatalf("got %v (reason %q), want reason %s", err, trove.ErrorReason(err), c.reason)
			}
			if _, err := s.req.FollowRotation(ctx, s.client, s.oldKey.DID()); trove.ErrorReason(err) != c.reason {
				t.Fatalf("FollowRotation: %v, want %s", err, c.reason)
			}
			s.nothingRekeyed(t)
		})
	}

	// The real chain is followed, and the consent runs under the new DID.
	s.proxy.mu.Lock()
	s.proxy.fix = map[string][]byte{}
	s.proxy.mu.Unlock()
	run, err := s.req.RunJob(ctx, s.client, s.credential, nil, nil)
	if err != nil || run.Receipt.Vault != s.newKey.DID() {
		t.Fatalf("real chain: %v", err)
	}
	if succ, err := s.req.Successors(s.oldKey.DID()); err != nil || len(succ) != 1 || succ[0] != s.newKey.DID() {
		t.Fatalf("successors: %v, %v", succ, err)
	}
}

// Once the rotation is followed, a status list signed by the retired key
// (by whoever still holds it) is refused; the list by the new DID is
// accepted for a credential the old DID issued.
func TestStatusListByRetiredKeyIsRefused(t *testing.T) {
	ctx := context.Background()
	s := newRotatedServed(t)
	if err := s.req.CheckStatus(ctx, s.client, s.credential); err != nil {
		t.Fatalf("status through the chain: %v", err)
	}
	list, err := consent.IssueStatusList(s.oldKey, vault.DefaultPublicURL+"/v1/status/1", consent.NewBitstring(consent.StatusListBits), time.Now(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	s.proxy.serve("/v1/status/1", []byte(list))
	if err := s.req.CheckStatus(ctx, s.client, s.credential); trove.ErrorReason(err) != "retired_key" {
		t.Fatalf("status list by the retired key: %v", err)
	}
}

// Before any rotation is followed, a status list by a DID that is not a
// verified successor of the credential's issuer speaks for nothing.
func TestStatusListByStrangerIsRefused(t *testing.T) {
	ctx := context.Background()
	s := newServed(t)
	mallory, err := did.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	list, err := consent.IssueStatusList(mallory, vault.DefaultPublicURL+"/v1/status/1", consent.NewBitstring(consent.StatusListBits), time.Now(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	p := newTamperProxy(t, s.client.BaseURL())
	c, err := api.NewClient(p.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	p.serve("/v1/status/1", []byte(list))
	if err := s.req.CheckStatus(ctx, c, s.credential); trove.ErrorReason(err) != "bad_rotation" {
		t.Fatalf("status list by a stranger: %v", err)
	}
}
