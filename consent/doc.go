// Package consent holds trove's consent tokens: the consent request a
// requester signs, the Consent credential an owner issues (a VC-JWT in the
// W3C VC data model's JWT encoding) and the presentation (a VP-JWT bound to
// a vault and a single-use nonce) by which a requester uses a credential.
//
// Invariants:
//
//   - Every token is verified on one strict path of our own (verifyCompact)
//     before anything else reads it: at most MaxTokenSize bytes, compact JWS
//     with exactly three unpadded base64url parts, alg EdDSA only, a known
//     typ, no crit, no header parameter other than alg, typ and kid, a kid
//     (when present) that names the issuer's own key, the key taken from
//     iss, JSON that is nested at most MaxDepth deep and has no duplicate
//     keys (not even keys that differ only in case, which encoding/json
//     would merge), and nbf, iat and exp checked against the caller's clock
//     with Skew of tolerance.
//   - aries-framework-go is used for the VC data model only, after the
//     strict path has accepted the token, with proof checks and JSON-LD and
//     schema validation off (nothing is ever fetched) and behind a recover.
//     It never decides whether a token is genuine.
//   - A presentation embeds exactly one credential, as a JWT string, and its
//     holder must be the credential's subject. Whether its nonce is unused
//     is the vault's to decide: this package keeps no state.
//   - Every refusal is an *Error whose Code is a stable reason the vault
//     logs; messages name fields, never DIDs, values or secrets.
//
// Clocks are parameters (now time.Time); keys are behind the Signer
// interface; the package has no mutable global state.
package consent
