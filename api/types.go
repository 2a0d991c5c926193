package api

import (
	"encoding/json"
	"time"

	"github.com/trove-project/trove/dataset"
)

// StatusListMediaType is the media type of GET /v1/status/{list}: a
// VC-JWT.
const StatusListMediaType = "application/jwt"

// Catalog is what a vault offers: GET /v1/catalog.
type Catalog struct {
	Vault      string           `json:"vault"`      // the vault's DID: the audience of presentations
	Datasets   []CatalogDataset `json:"datasets"`   // what may be asked for
	Algorithms []string         `json:"algorithms"` // built-in algorithm ids it runs
	Policy     CatalogPolicy    `json:"policy"`     // the standing rules requests meet
}

// CatalogPolicy publishes the active standing rules, so that requesters
// know the terms before they ask: the rule set's hash (which the log names
// with each automatic decision) and the rules in plain language.
type CatalogPolicy struct {
	Hash    string   `json:"hash"`
	Summary []string `json:"summary"`
}

// CatalogDataset describes one dataset without revealing its values.
type CatalogDataset struct {
	Name   string          `json:"name"`
	Digest string          `json:"digest"`
	Schema []dataset.Field `json:"schema"`
	Rows   string          `json:"rows"` // a bucket such as "100-999": exact counts leak
}

// ConsentRequestBody is the body of POST /v1/consent-requests.
type ConsentRequestBody struct {
	Request string `json:"request"` // the requester-signed request (JWS)
}

// ConsentRequestStatus is what GET /v1/consent-requests/{id} returns.
type ConsentRequestStatus struct {
	ID           string `json:"id"`
	State        string `json:"state"` // pending, countered, approved or denied
	ConsentID    string `json:"consent_id,omitempty"`
	Credential   string `json:"credential,omitempty"`    // the Consent VC-JWT, once approved
	CounterOffer string `json:"counter_offer,omitempty"` // the owner's signed counter-offer, while countered
}

// CounterReplyBody is the body of POST /v1/consent-requests/{id}/reply.
type CounterReplyBody struct {
	Reply string `json:"reply"` // the requester-signed answer (JWS)
}

// Challenge is a single-use nonce for a job presentation: GET /v1/challenge.
type Challenge struct {
	Nonce     string    `json:"nonce"`
	Audience  string    `json:"audience"` // the vault DID the presentation must name as aud
	ExpiresAt time.Time `json:"expires_at"`
}

// JobBody is the body of POST /v1/jobs.
type JobBody struct {
	Presentation string          `json:"presentation"`     // VP-JWT bound to a challenge
	Algorithm    string          `json:"algorithm"`        // sha256 of the module, or a built-in id
	Params       json.RawMessage `json:"params,omitempty"` // passed to the algorithm
	Module       []byte          `json:"module,omitempty"` // the WebAssembly module (base64 in JSON)
}

// Proof is an inclusion or consistency proof.
type Proof struct {
	Index  uint64   `json:"index,omitempty"`
	From   uint64   `json:"from,omitempty"`
	Size   uint64   `json:"size"`
	Hashes [][]byte `json:"hashes"`
}

// Health is what GET /healthz returns.
type Health struct {
	Status string `json:"status"`
	Vault  string `json:"vault"`
}

// rowsBucket rounds a row count to a decade, so the catalog does not tell
// the exact number of records.
func rowsBucket(n int) string {
	switch {
	case n < 10:
		return "1-9"
	case n < 100:
		return "10-99"
	case n < 1000:
		return "100-999"
	case n < 10000:
		return "1000-9999"
	case n < 100000:
		return "10000-99999"
	case n < 1000000:
		return "100000-999999"
	}
	return "1000000+"
}

// ClaimResponseBody is the body of POST /v1/claims/{id}/ack,
// POST /v1/claims/{id}/dispute and POST /v1/claims/{id}/settle.
type ClaimResponseBody struct {
	Response string `json:"response"` // the requester-signed ledger.ClaimResponse (JWS)
}
