// Package federated trains one model across many vaults without pooling
// their data: each vault trains locally under its own consent and returns
// a weight update and its sample count; the coordinator aggregates them.
//
// This file set holds the coordinator's mathematics, free of I/O:
// aggregators that resist poisoned updates (FedAvg, coordinate-wise median,
// trimmed mean, Krum and multi-Krum), anomaly scores that flag suspicious
// updates and keep them out of the aggregate, contribution shares that turn
// each round into payouts (a flagged update earns nothing), and the
// seeded data splits used by simulations (IID, Dirichlet, one class per
// vault, and a stratified test set).
//
// Invariants: aggregation never reads raw data, only updates; every
// function is deterministic given its inputs and random source, so a run
// can be reproduced and audited.
package federated
