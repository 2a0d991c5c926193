// Package vault is the owner's store and the flow of everything that
// touches it: datasets kept as encrypted columnar chunks, consent requests
// and the credentials issued for them, single-use challenges, jobs, the
// Merkle log, receipts and compensation claims, all in one SQLite database
// on disk (WAL, foreign keys, synchronous=FULL).
//
// Invariants:
//   - Data never leaves in the clear: every chunk is sealed with AES-256-GCM
//     under a per-dataset key, itself sealed by the owner key. A dataset's
//     digest is the RFC 6962 Merkle root over its chunks' plaintext.
//   - Every decision about access — request received, approved or denied,
//     job accepted or refused with its reason, run finished, result
//     released, claim created — is appended to the log in the same
//     transaction as the state change it records. If the append fails, the
//     change does not happen and no result leaves (fail closed).
//   - A run is counted against its consent in the same transaction that
//     consumes the presentation's nonce, so two jobs racing for the last
//     run cannot both run, and a nonce cannot be used twice.
//   - The log's tree state is read inside each write transaction, so several
//     processes (trove serve and a trove command) can append safely.
//   - Group commit: every write (a state change and its entries) is a
//     function queued to one writer goroutine, which runs a batch of them
//     in one transaction, each in its own SAVEPOINT (one failing write
//     rolls back alone), signs one checkpoint for the state the batch
//     leaves, and commits with one fsync. Callers learn their outcome only
//     after that commit; a full queue refuses at once (ETOOMANY).
//   - A claim under a consent's share rule is provisional until settled:
//     the requester's signed settlement and the Contribution credential it
//     carries are checked against the claim (requester, receipt, currency,
//     a pool that is a whole multiple of the price, the payout) and the
//     claim is settled and logged in one transaction, or nothing changes.
//   - The interior nodes of the log's tree are stored as they complete, so
//     a proof reads O(log n) rows.
//   - The API's memory of signed requests (Nonces) is its own file,
//     nonces.db, beside vault.db (WAL, synchronous=NORMAL: see Nonces for
//     why that is enough): hashes of (key id, nonce) only, bounded,
//     pruned as it is used.
//   - Owner key rotation (Rotate) is one transaction, run alone between
//     batches: the did.rotated entry, the retired key's handover
//     checkpoint and the new key's checkpoint of the same tree, every
//     dataset key sealed anew, the key history (owner_keys) and the owner
//     DID. The new sealed key is written beside owner.key before it and
//     renamed over it after it, under the key lock (vault.lock) that Open
//     also takes; Open settles a rotation cut short. Every batch first
//     checks that its key is still the owner's (key_rotated otherwise), so
//     a process holding a retired key signs nothing. Whatever any of the
//     owner's DIDs signed stays the vault's.
//
// Only this package knows SQL.
package vault
