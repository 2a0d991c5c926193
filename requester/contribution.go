package requester

import "github.com/trove-project/trove/consent"

// IssueContribution signs a Contribution credential for a vault, as the
// coordinator of a federated training.
func (r *Requester) IssueContribution(c consent.Contribution) (string, error) {
	return consent.IssueContribution(r.key, c, r.now())
}
