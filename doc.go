// Package trove holds what every part of trove shares: the Error type whose
// Code callers branch on, mapped to an HTTP status or an exit code in exactly
// one place each (package api and cmd/trove).
//
// The concepts live in their own packages: did (identities and keys),
// dataset (the data model), consent (requests, credentials, presentations),
// compute (the sandbox and built-in algorithms), ledger (the log, receipts,
// claims), vault (the owner's store and the flow of a job), api (the public
// HTTP API and its client), requester (the requester's side), ui (the
// owner's web UI).
package trove
