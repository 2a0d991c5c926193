package vault_test

import (
	"context"
	"math"
	"testing"

	"github.com/trove-project/trove"
	"github.com/trove-project/trove/compute"
	"github.com/trove-project/trove/vault"
)

func TestPrivacySettings(t *testing.T) {
	v := MustCreate(t, vault.Config{})
	ctx := context.Background()
	p, err := v.Privacy(ctx, "health")
	if err != nil || p.Minimum.Kind != compute.PolicyRelease || p.BudgetEpsilon != 0 || p.LeftEpsilon != 0 {
		t.Fatalf("default privacy %+v, %v", p, err)
	}
	dp := compute.OutputPolicy{Kind: compute.PolicyDP, Epsilon: 0.5, Delta: 1e-7}
	p, err = v.SetPrivacy(ctx, "health", dp, 3, 1e-6)
	if err != nil || p.Minimum != dp || p.BudgetEpsilon != 3 || p.LeftEpsilon != 3 || p.SpentEpsilon != 0 {
		t.Fatalf("set privacy: %+v, %v", p, err)
	}
	for _, bad := range []struct {
		name     string
		min      compute.OutputPolicy
		eps, del float64
	}{
		{"bad name!", compute.OutputPolicy{Kind: compute.PolicyRelease}, 0, 0},
		{"health", compute.OutputPolicy{Kind: "publish"}, 0, 0},
		{"health", compute.OutputPolicy{Kind: compute.PolicyDP}, 1, 1e-6},
		{"health", compute.OutputPolicy{Kind: compute.PolicyReview}, -1, 0},
		{"health", compute.OutputPolicy{Kind: compute.PolicyReview}, 101, 0},
		{"health", compute.OutputPolicy{Kind: compute.PolicyReview}, 1, 0.5},
		{"health", compute.OutputPolicy{Kind: compute.PolicyReview}, math.NaN(), 0},
	} {
		if _, err := v.SetPrivacy(ctx, bad.name, bad.min, bad.eps, bad.del); trove.ErrorCode(err) != trove.EINVALID {
			t.Errorf("SetPrivacy(%q, %+v, %g, %g): %v, want invalid", bad.name, bad.min, bad.eps, bad.del, err)
		}
	}
	// The refused changes left the settings alone, and the change was logged.
	if p, err := v.Privacy(ctx, "health"); err != nil || p.Minimum != dp {
		t.Fatalf("after refused changes: %+v, %v", p, err)
	}
	if _, err := v.VerifyLog(ctx); err != nil {
		t.Fatal(err)
	}
}
