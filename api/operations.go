package api

import (
	"github.com/labstack/echo/v4"

	"github.com/trove-project/trove/api/apigen"
	"github.com/trove-project/trove/ledger"
)

// operations implements the server interface generated from openapi.yaml
// over the server's handlers. Every route is registered through the
// generated wrapper (see routes), which binds and checks the operation's
// path and query parameters as the spec declares them before the handler
// runs; the compiler checks that every operation of the spec has one.
type operations struct{ s *Server }

var _ apigen.ServerInterface = operations{}

// GetDIDDocument serves GET /.well-known/did.json.
func (o operations) GetDIDDocument(c echo.Context) error { return o.s.didDocument(c) }

// GetHealth serves GET /healthz.
func (o operations) GetHealth(c echo.Context) error { return o.s.health(c) }

// GetOpenAPI serves GET /openapi.yaml.
func (o operations) GetOpenAPI(c echo.Context) error { return o.s.openAPI(c) }

// GetRotations serves GET /v1/did/rotations.
func (o operations) GetRotations(c echo.Context) error { return o.s.rotations(c) }

// GetCatalog serves GET /v1/catalog.
func (o operations) GetCatalog(c echo.Context) error { return o.s.catalog(c) }

// GetChallenge serves GET /v1/challenge.
func (o operations) GetChallenge(c echo.Context) error { return o.s.challenge(c) }

// GetClaim serves GET /v1/claims/{id}.
func (o operations) GetClaim(c echo.Context, _ apigen.ID) error { return o.s.getClaim(c) }

// AcknowledgeClaim serves POST /v1/claims/{id}/ack.
func (o operations) AcknowledgeClaim(c echo.Context, _ apigen.ID) error {
	return o.s.respondClaim(ledger.Acknowledge)(c)
}

// SettleClaim serves POST /v1/claims/{id}/settle.
func (o operations) SettleClaim(c echo.Context, _ apigen.ID) error {
	return o.s.respondClaim(ledger.Settle)(c)
}

// DisputeClaim serves POST /v1/claims/{id}/dispute.
func (o operations) DisputeClaim(c echo.Context, _ apigen.ID) error {
	return o.s.respondClaim(ledger.Dispute)(c)
}

// SubmitConsentRequest serves POST /v1/consent-requests.
func (o operations) SubmitConsentRequest(c echo.Context) error { return o.s.submitRequest(c) }

// GetConsentRequest serves GET /v1/consent-requests/{id}.
func (o operations) GetConsentRequest(c echo.Context, _ apigen.ID) error { return o.s.getRequest(c) }

// ReplyToCounterOffer serves POST /v1/consent-requests/{id}/reply.
func (o operations) ReplyToCounterOffer(c echo.Context, _ apigen.ID) error {
	return o.s.answerCounter(c)
}

// SubmitJob serves POST /v1/jobs.
func (o operations) SubmitJob(c echo.Context) error { return o.s.submitJob(c) }

// GetJob serves GET /v1/jobs/{id}.
func (o operations) GetJob(c echo.Context, _ apigen.ID) error { return o.s.getJob(c) }

// GetCheckpoint serves GET /v1/log/checkpoint.
func (o operations) GetCheckpoint(c echo.Context) error { return o.s.checkpoint(c) }

// GetLogEntry serves GET /v1/log/entries/{index}.
func (o operations) GetLogEntry(c echo.Context, _ uint64) error { return o.s.logEntry(c) }

// GetConsistencyProof serves GET /v1/log/proof/consistency.
func (o operations) GetConsistencyProof(c echo.Context, _ apigen.GetConsistencyProofParams) error {
	return o.s.consistencyProof(c)
}

// GetInclusionProof serves GET /v1/log/proof/inclusion.
func (o operations) GetInclusionProof(c echo.Context, _ apigen.GetInclusionProofParams) error {
	return o.s.inclusionProof(c)
}

// GetReceipt serves GET /v1/receipts/{id}.
func (o operations) GetReceipt(c echo.Context, _ apigen.ID) error { return o.s.getReceipt(c) }

// GetStatusList serves GET /v1/status/{list}.
func (o operations) GetStatusList(c echo.Context, _ string) error { return o.s.statusList(c) }
