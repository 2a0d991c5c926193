// Package requester is the requester's side of trove: its own did:key in
// its own home, consent requests signed with it, jobs presented under a
// Consent credential and bound to the vault's challenge, and the receipts
// and checkpoints it keeps to hold the vault to its word.
//
// Invariants: a result is accepted only with a receipt that verifies
// offline against the vault's DID, whose output hash matches the result,
// and whose checkpoint is consistent with every checkpoint this requester
// kept from that vault before (a vault that rewrites its log is caught).
//
// A vault can also be expected to be a did:web (Ask.WebDID, BindWeb):
// its document, resolved by the requester's own resolver over HTTPS from
// the domain it names, must name the vault's did:key first in
// alsoKnownAs and list its key for assertions before a request is sent;
// the binding is kept in web/, and a later different did:key for the
// same did:web is refused unless it follows a key rotation (below).
//
// A vault's new DID after a key rotation is accepted only through
// FollowRotation: a rotation chain that verifies from the DID known
// before, whose handover extends the checkpoint kept from it and is
// extended by the vault's current checkpoint. Once followed, the retired
// DID's new signatures are refused.
package requester
