package compute

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
)

// builtinFunc computes a built-in algorithm's result document.
type builtinFunc func(ctx context.Context, in Input) (json.RawMessage, error)

// builtins returns the built-in algorithms by id. Ids carry a version: a
// change in what an algorithm computes gets a new id, since consents name
// them.
func builtins() map[string]builtinFunc {
	return map[string]builtinFunc{
		StatsID:       runStats,
		HistogramID:   runHistogram,
		LinRegID:      runLinReg,
		LogRegTrainID: runLogRegTrain,
	}
}

// Builtins returns the ids of the built-in algorithms, sorted.
func Builtins() []string {
	ids := make([]string, 0, len(builtins()))
	for id := range builtins() {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// IsBuiltin reports whether id names a built-in algorithm.
func IsBuiltin(id string) bool {
	_, ok := builtins()[id]
	return ok
}

// RunBuiltin runs the built-in algorithm id over in.Table. An unknown id
// gives ErrUnknownBuiltin.
func RunBuiltin(ctx context.Context, id string, in Input) (*Output, error) {
	f, ok := builtins()[id]
	if !ok {
		return nil, fmt.Errorf("run job %s: %q: %w", in.JobID, id, ErrUnknownBuiltin)
	}
	if in.Table == nil {
		return nil, fmt.Errorf("run job %s: %s: no table: %w", in.JobID, id, ErrBadInput)
	}
	res, err := f(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("run job %s: %s: %w", in.JobID, id, err)
	}
	return &Output{Result: res}, nil
}
