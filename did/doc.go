// Package did holds the identities trove deals in: Ed25519 keys published
// as did:key DIDs, did:web documents (built and read through
// aries-framework-go's DID model) for owners with a domain, and the sealing
// of an owner's private key at rest under a passphrase.
//
// A Resolver resolves did:key offline and did:web over HTTPS only (plain
// HTTP to loopback hosts when a test asks), with a timeout, a size limit,
// no redirects and a bounded cache; aries' parser runs behind a recover.
//
// A Key never hands out its private half: it signs, and it seals and opens
// small secrets (such as per-dataset keys) under a key derived from itself.
// did:key identifiers are decoded directly (no DID document is built on the
// hot path) and must round-trip exactly, so two spellings of one key cannot
// stand for two identities.
package did
