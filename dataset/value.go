package dataset

import (
	"math"
	"strconv"
	"time"
)

// parseInt reports whether s is a base-10 signed 64-bit integer.
func parseInt(s string) (int64, bool) {
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// parseFloat reports whether s is a finite float64. NaN and the infinities
// are refused: they are not measurements, and a column holding them is
// better read as categorical than silently poisoning every mean.
func parseFloat(s string) (float64, bool) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, false
	}
	return f, true
}

// parseTimestamp reports whether s is an instant in one of the accepted
// layouts (RFC 3339, "2006-01-02", "2006-01-02 15:04:05", the last two in
// UTC, fractional seconds allowed) that fits in int64 Unix nanoseconds.
func parseTimestamp(s string) (int64, bool) {
	// Every layout starts with "YYYY-"; checking that first spares
	// time.Parse (and its error allocation) on everything else.
	if len(s) < len(time.DateOnly) || s[4] != '-' {
		return 0, false
	}
	layout := time.RFC3339
	switch {
	case len(s) == len(time.DateOnly):
		layout = time.DateOnly
	case s[10] == ' ':
		layout = time.DateTime
	}
	t, err := time.Parse(layout, s)
	if err != nil {
		return 0, false
	}
	ns := t.UnixNano()
	if !time.Unix(0, ns).Equal(t) { // outside the years 1678 to 2262
		return 0, false
	}
	return ns, true
}
