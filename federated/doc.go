// Package federated trains one model across many vaults without pooling
// their data: each vault trains locally under its own consent and returns
// a weight update and its sample count; the coordinator aggregates them.
//
// The coordinator's mathematics is free of I/O: aggregators that resist
// poisoned updates (FedAvg, coordinate-wise median, trimmed mean, Krum and
// multi-Krum), anomaly scores whose limits adapt to each round's spread
// and flag suspicious updates to keep them out of the aggregate, a pool of
// the vaults' feature moments that leaves out a vault whose moments are
// out of line, contribution shares that turn each round into
// payouts (a flagged update earns nothing), and the seeded data splits
// used by simulations (IID, Dirichlet, one class per vault, and a
// stratified test set).
//
// The Coordinator runs the rounds over Participants: VaultParticipant
// reaches a vault over its HTTP API as a requester (challenge,
// presentation, builtin:logreg-train@1 job, verified receipt). Each round
// it verifies and keeps every receipt, skips vaults that time out or
// refuse, needs a quorum, flags and excludes anomalous updates (recording
// the receipt that proves who sent them), aggregates, scores the model on
// its held-out set with compute.LogRegAccuracy, shares the round's pool
// (Config.Price times the updates received) exactly by contribution,
// issues every vault whose receipt verified a Contribution credential,
// writes its round file atomically, and then settles each vault's claim
// under the share rule with its credential (Settler), recording the
// outcome; a restarted coordinator resumes after its last round and
// retries the settlements that failed. Sim runs real vaults in one
// process for tests and experiments (trove sim); see docs/federated.md.
//
// Invariants: aggregation never reads raw data, only updates; an update
// counts only with a receipt that verifies against its vault's DID and
// names its exact bytes; every function is deterministic given its inputs
// and random source, so a run can be reproduced and audited.
package federated
