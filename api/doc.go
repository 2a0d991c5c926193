// Package api is trove's public HTTP API (echo v4) and the Go client that
// requesters use to call it.
//
// The server serves a vault to requesters: the catalog, consent requests,
// challenges, jobs, receipts, the log's checkpoints, entries and proofs,
// claims and the requester's signed acknowledgement or dispute of them.
// Every body has a size limit, unknown JSON fields are refused, and every
// error is an application/problem+json document (RFC 9457) whose `type`
// URI is stable; trove.Error codes map to HTTP statuses in exactly one
// place (problem.go). The server listens before it serves, so tests use
// 127.0.0.1:0 and read the port back.
//
// openapi.yaml describes the API (served at GET /openapi.yaml); package
// apigen is generated from it by oapi-codegen (go generate): types, a
// client (NewGenerated, SignWith, Check) and the echo server interface,
// whose wrappers every route goes through (operations.go). Client, which
// requesters, the CLI and federation use, is a thin layer over the
// generated client: each method sends through it (signed per call when
// made by As) and reads the answer with Client's own size caps and strict
// proof parsing into the package's types. Limits (rates
// per address and per requester, connections per address, concurrent job
// uploads, canonical paths) are in limits.go; Metrics, served on the
// owner's listener, and the access log in metrics.go.
//
// Requester authentication (RFC 9421 signatures) is in httpsig.go. A
// signed request's (keyid, nonce) is remembered in memory and, given a
// NonceStore (SetNonceStore; `trove serve` gives vault.Nonces), recorded
// durably before the request goes on, so a replay is refused after a
// restart too; a store that cannot record refuses the request.
package api
