// Package consent holds trove's consent tokens: the consent request a
// requester signs, the Consent credential an owner issues (a VC-JWT in the
// W3C VC data model's JWT encoding) with its complete terms (columns,
// purpose code, output policy, price per unit and, for training rounds, the
// share rule) and a Bitstring Status List entry, the status list that
// revokes it, the owner's counter-offer and the requester's reply, the
// presentation (a VP-JWT bound to a vault and a single-use nonce) by which
// a requester uses a credential, the owner's standing rules (Policy) that
// decide requests without asking, and the Contribution credential a
// training's coordinator issues a vault for its share of a round.
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
//   - Keys come from a KeyResolver: did:key decoded directly by default; a
//     Verifier may use a did:web resolver. A Verifier's cache is keyed by
//     the exact token bytes and never skips the time checks; presentations
//     are never cached.
//   - The share rule (ShareContribution, per round only) is a signed term:
//     the owner reads it before consenting and a counter-offer keeps it.
//     A Contribution credential verifies only if it keeps its own rules: a
//     flagged update earns nothing, and the payout is the stated share of
//     the stated pool within one minor unit, computed exactly.
//   - Standing rules are data, evaluated in order, first match wins, "ask"
//     when none matches; a rule set is identified by the hash of its
//     canonical JSON.
//
// Clocks are parameters (now time.Time); keys are behind the Signer
// interface; the package has no mutable global state (a Verifier's cache
// belongs to the Verifier).
package consent
