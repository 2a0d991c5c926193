// Package ledger is trove's tamper-evident record of every access to a
// vault: an append-only Merkle log with RFC 6962 hashing, checkpoints in
// the C2SP tlog-checkpoint signed-note format, inclusion and consistency
// proofs, receipts a requester verifies offline, and the compensation
// claims receipts turn into.
//
// The package is pure: tree math, encodings and signatures. It holds no
// storage. Package vault keeps leaf hashes and tree state in its database
// and calls these functions inside its transactions; it reads leaf hashes
// back through the one-method HashReader, as golang.org/x/mod/sumdb/tlog
// does, and stored interior nodes through NodeReader (Tree.AppendVisit
// reports each node as it completes). MemoryHashes is an in-memory
// HashReader for tests.
//
// Invariants:
//
//   - A log entry is an Entry encoded by Entry.Marshal: canonical JSON, so
//     one Entry has exactly one encoding and ParseEntry refuses any other.
//     Its leaf hash is LeafHash of those bytes.
//   - Entries carry event types, identifiers (DIDs, job, consent, receipt
//     and claim ids) and digests, never personal data: anything written to
//     the log is shown to whoever asks for a proof.
//   - A checkpoint's origin line and its signing key name are both the
//     vault's DID, and the signature is by that DID's Ed25519 key, so a
//     checkpoint verifies with golang.org/x/mod/sumdb/note and nothing but
//     the DID.
//   - A receipt verifies offline with only the vault's DID: the JWS is
//     signed by the vault, its log entry hashes to the leaf hash it names
//     and agrees with its claims, and the entry is included under a
//     checkpoint signed by the same vault.
//   - Every parser of material that crosses a trust boundary (entries,
//     checkpoints, proofs, entry proofs, receipt bundles, claims, claim
//     responses) has a size limit, refuses
//     unknown fields and non-canonical encodings, and is fuzzed.
//   - A key rotation (rotation.go) is a statement signed by the retiring
//     key and co-signed by its successor over one payload, logged as a
//     DIDRotated entry, with a handover checkpoint by the retiring DID and
//     the same tree signed by the new one. A chain of rotations verifies
//     offline from any earlier DID (VerifyRotationChain).
//   - Money is integer minor units with a currency or token code, never a
//     float. A claim is signed by the vault (IssueClaim); the requester
//     answers it with a signed acknowledgement or dispute
//     (SignClaimResponse) naming the claim and its receipts. A claim under
//     the share rule (ShareContribution) signs the rule with a provisional
//     amount; the requester settles it instead (Settle), the response
//     carrying the training coordinator's Contribution credential.
//
// Errors that callers branch on are sentinels (ErrMalformed, ErrTooLarge,
// ErrBadSignature, ErrWrongVault, ErrMismatch, ErrNotIncluded,
// ErrInconsistent, ErrOutOfRange), wrapped with what was being done.
package ledger
