package requester

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/trove-project/trove"
	"github.com/trove-project/trove/api"
	"github.com/trove-project/trove/ledger"
)

// Succession is what the requester keeps of a vault's key rotation it
// followed, in rotations/OLD.json: the retired DID, its successor, the
// statement and co-signature that say so, and the retired DID's handover
// checkpoint (its last).
type Succession struct {
	Old         string    `json:"old"`
	New         string    `json:"new"`
	Statement   string    `json:"statement"`
	Cosignature string    `json:"cosignature"`
	Handover    string    `json:"handover"`
	FollowedAt  time.Time `json:"followed_at"`
}

func badRotation(msg string, err error) error {
	return &trove.Error{Code: trove.EFORBIDDEN, Reason: "bad_rotation", Message: msg, Err: err}
}

// FollowRotation follows the vault behind c from a DID this requester
// knew it by (from) to the DID it answers under now, and returns that
// DID. It fetches the vault's rotation chain (GET /v1/did/rotations) and
// accepts it only if, in order: every link from the rotation away from
// from verifies offline (ledger.VerifyRotationChain: each statement signed
// by the retiring key and co-signed by its successor, each handover by
// the retiring DID over the tree ending with its did.rotated entry, each
// handover extending the previous); each handover extends the checkpoint
// this requester kept from its retiring DID, if it kept one (a
// consistency proof from the vault), so no retiring key forked the log;
// and the vault's
// current checkpoint, signed by the chain's last DID, extends the last
// handover. Only then does it keep that checkpoint under the new DID and
// remember each succession (rotations/ in its home); on any failure it
// changes nothing and answers EFORBIDDEN with reason bad_rotation (the
// chain does not verify or does not start at from) or log_rewritten (a
// checkpoint is not extended).
//
// It is the one entry point for learning a vault's new DID, whatever
// made the requester look (a credential, status list, receipt or claim
// by a DID it did not know, or a did:web document listing a new key).
func (r *Requester) FollowRotation(ctx context.Context, c *api.Client, from string) (string, error) {
	c = r.Signed(c)
	links, err := c.Rotations(ctx)
	if err != nil {
		return "", err
	}
	verified, err := ledger.VerifyRotationChain(links, from)
	if err != nil {
		return "", badRotation("the vault's rotation chain does not take its earlier DID to a successor", err)
	}
	// Each retiring DID's handover extends what this requester kept from
	// it: a retired key did not fork the log.
	for _, v := range verified {
		kept, err := r.keptCheckpoint(v.Rotation.Old)
		if err != nil {
			return "", err
		}
		if kept != nil {
			if err := checkExtends(ctx, c, kept, v.Handover); err != nil {
				return "", err
			}
		}
	}
	last := verified[len(verified)-1]
	note, err := c.Checkpoint(ctx)
	if err != nil {
		return "", err
	}
	current := last.Rotation.New
	cur, err := ledger.OpenCheckpoint(note, current)
	if err != nil {
		return "", badRotation("the vault's checkpoint is not signed by the DID its rotation chain ends at", err)
	}
	if err := checkExtends(ctx, c, last.Handover, cur); err != nil {
		return "", err
	}
	if keptNew, err := r.keptCheckpoint(current); err != nil {
		return "", err
	} else if keptNew != nil {
		if err := checkExtends(ctx, c, keptNew, cur); err != nil {
			return "", err
		}
	}
	// Everything verified: re-key.
	if err := r.saveFile(filepath.Join("checkpoints", fileSafe(current)+".txt"), note); err != nil {
		return "", err
	}
	now := r.now().UTC()
	for _, v := range verified {
		s := Succession{Old: v.Rotation.Old, New: v.Rotation.New, Statement: v.Link.Statement, Cosignature: v.Link.Cosignature,
			Handover: v.Link.Handover, FollowedAt: now}
		if err := r.saveJSON(filepath.Join("rotations", fileSafe(s.Old)+".json"), s); err != nil {
			return "", err
		}
	}
	return current, nil
}

// Successors returns the DIDs this requester knows to have succeeded id,
// in order (the last is the newest it knows), from the rotations it
// followed; none if it followed none away from id.
func (r *Requester) Successors(id string) ([]string, error) {
	var out []string
	for range ledger.MaxRotationLinks {
		s, err := r.succession(id)
		if err != nil {
			return nil, err
		}
		if s == nil || slices.Contains(out, s.New) {
			return out, nil
		}
		out = append(out, s.New)
		id = s.New
	}
	return out, nil
}

// succession returns the rotation kept away from id, or nil.
func (r *Requester) succession(id string) (*Succession, error) {
	var s Succession
	err := r.loadJSON(filepath.Join("rotations", fileSafe(id)+".json"), &s)
	if trove.ErrorCode(err) == trove.ENOTFOUND {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("kept rotation of %s: %w", id, err)
	}
	if s.Old != id {
		return nil, fmt.Errorf("kept rotation of %s names %s", id, s.Old)
	}
	return &s, nil
}

// retired reports whether this requester followed a rotation away from
// id: anything id signs now is refused.
func (r *Requester) retired(id string) (bool, error) {
	s, err := r.succession(id)
	return s != nil, err
}

// ensureSuccessor checks that to is from or a DID that succeeded it
// (findSuccessor); a signer that is neither is refused (bad_rotation).
func (r *Requester) ensureSuccessor(ctx context.Context, c *api.Client, from, to string) error {
	if from == to {
		return nil
	}
	_, err := r.findSuccessor(ctx, c, from, func(id string) bool { return id == to })
	return err
}

// findSuccessor returns the first DID that succeeded from for which ok
// holds: among those the rotations already followed name, or else,
// once the vault's chain is followed (FollowRotation), among those it
// names. None: bad_rotation.
func (r *Requester) findSuccessor(ctx context.Context, c *api.Client, from string, ok func(id string) bool) (string, error) {
	for followed := false; ; followed = true {
		succ, err := r.Successors(from)
		if err != nil {
			return "", err
		}
		for _, id := range succ {
			if ok(id) {
				return id, nil
			}
		}
		if followed {
			return "", badRotation("no successor of the vault's DID signed it", nil)
		}
		if _, err := r.FollowRotation(ctx, c, from); err != nil {
			return "", err
		}
	}
}

// keptCheckpoint returns the checkpoint kept from vaultDID, or nil.
func (r *Requester) keptCheckpoint(vaultDID string) (*ledger.Checkpoint, error) {
	b, err := os.ReadFile(filepath.Join(r.home, "checkpoints", fileSafe(vaultDID)+".txt"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	cp, err := ledger.OpenCheckpoint(b, vaultDID)
	if err != nil {
		return nil, fmt.Errorf("kept checkpoint: %w", err)
	}
	return cp, nil
}

// checkRetired refuses a checkpoint signed by a DID this requester knows
// is retired, over more than the tree it handed over: a retired key
// signs nothing new.
func (r *Requester) checkRetired(vaultDID string, cp *ledger.Checkpoint) error {
	s, err := r.succession(vaultDID)
	if err != nil || s == nil {
		return err
	}
	h, err := ledger.OpenCheckpoint([]byte(s.Handover), vaultDID)
	if err != nil {
		return fmt.Errorf("kept handover: %w", err)
	}
	if cp.Size > h.Size {
		return &trove.Error{Code: trove.EFORBIDDEN, Reason: "retired_key",
			Message: "the checkpoint is signed by a DID the vault retired, over entries logged after its rotation"}
	}
	return nil
}
