// Package did holds the identities trove deals in: Ed25519 keys published
// as did:key DIDs, and the sealing of an owner's private key at rest under a
// passphrase.
//
// A Key never hands out its private half: it signs, and it seals and opens
// small secrets (such as per-dataset keys) under a key derived from itself.
// did:key identifiers are decoded directly (no DID document is built on the
// hot path) and must round-trip exactly, so two spellings of one key cannot
// stand for two identities.
package did
