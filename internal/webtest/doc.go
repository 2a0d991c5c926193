// Package webtest serves did:web documents on loopback for tests: a
// vault's own domain is 127.0.0.1 with a port reserved before the vault
// opens (its document names the port), and hand-made documents — wrong,
// oversized, redirecting — are served under a did:web of their own.
// Resolvers reach them over plain HTTP only with their loopback switch
// on.
package webtest
