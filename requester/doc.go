// Package requester is the requester's side of trove: its own did:key in
// its own home, consent requests signed with it, jobs presented under a
// Consent credential and bound to the vault's challenge, and the receipts
// and checkpoints it keeps to hold the vault to its word.
//
// Invariants: a result is accepted only with a receipt that verifies
// offline against the vault's DID, whose output hash matches the result,
// and whose checkpoint is consistent with every checkpoint this requester
// kept from that vault before (a vault that rewrites its log is caught).
package requester
