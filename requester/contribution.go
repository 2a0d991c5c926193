package requester

import (
	"fmt"

	"github.com/google/uuid"

	"github.com/trove-project/trove/consent"
)

// IssueContribution signs a Contribution credential for a vault, as the
// coordinator of a federated training; its id is drawn from the
// requester's randomness when c.ID is empty.
func (r *Requester) IssueContribution(c consent.Contribution) (string, error) {
	if c.ID == "" {
		u, err := uuid.NewRandomFromReader(r.rand)
		if err != nil {
			return "", fmt.Errorf("contribution id: %w", err)
		}
		c.ID = u.URN()
	}
	return consent.IssueContribution(r.key, c, r.now())
}
