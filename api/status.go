package api

import "github.com/trove-project/trove"

// StatusOf returns the HTTP status for an error code. It is the mapping
// the API uses, exported so that the owner's web UI answers with the same
// statuses without a second mapping.
func StatusOf(code trove.Code) int { return statusOf(code) }
