package vault

import (
	"testing"

	"github.com/trove-project/trove/compute"
)

func TestEffectivePolicy(t *testing.T) {
	rel := compute.OutputPolicy{Kind: compute.PolicyRelease}
	rev := compute.OutputPolicy{Kind: compute.PolicyReview}
	dp1 := compute.OutputPolicy{Kind: compute.PolicyDP, Epsilon: 1, Delta: 1e-6}
	dp2 := compute.OutputPolicy{Kind: compute.PolicyDP, Epsilon: 2}
	for _, c := range []struct{ granted, minimum, want compute.OutputPolicy }{
		{rel, rel, rel}, {rel, rev, rev}, {rev, rel, rev}, {rel, dp1, dp1}, {dp1, rel, dp1},
		{rev, dp2, dp2}, {dp1, dp2, dp1}, {dp2, dp1, dp1},
	} {
		if got := effectivePolicy(c.granted, c.minimum); got != c.want {
			t.Errorf("effectivePolicy(%+v, %+v) = %+v, want %+v", c.granted, c.minimum, got, c.want)
		}
	}
}
