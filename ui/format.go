package ui

import (
	"fmt"
	"html/template"
	"strconv"
	"strings"
	"time"

	"github.com/trove-project/trove/compute"
	"github.com/trove-project/trove/ledger"
)

// funcs are the template helpers: formatting only, no I/O.
var funcs = template.FuncMap{
	"money":     money,
	"shortDID":  shortDID,
	"date":      func(t time.Time) string { return t.UTC().Format("2 Jan 2006") },
	"dateTime":  func(t time.Time) string { return t.UTC().Format("2 Jan 2006, 15:04 UTC") },
	"clock":     func(t time.Time) string { return t.UTC().Format("15:04:05") },
	"algorithm": algorithmName,
	"builtin":   compute.IsBuiltin,
	"plural":    plural,
	"event":     eventTitle,
	"eventKind": eventKind,
	"percent": func(used, max int) int {
		if max <= 0 {
			return 0
		}
		return used * 100 / max
	},
}

// money formats integer minor units as a decimal amount with two places.
func money(amount int64, currency string) string {
	sign := ""
	if amount < 0 {
		sign, amount = "-", -amount
	}
	return fmt.Sprintf("%s%d.%02d %s", sign, amount/100, amount%100, currency)
}

// shortDID keeps the start and end of a long DID: enough to tell two
// apart at a glance; the full DID is always one hover or click away.
func shortDID(d string) string {
	if len(d) <= 28 {
		return d
	}
	return d[:16] + "…" + d[len(d)-6:]
}

// algorithmName says what an algorithm is in words.
func algorithmName(a string) string {
	if compute.IsBuiltin(a) {
		return "Built-in: " + a
	}
	if len(a) == 64 {
		return "Custom program " + a[:8] + "…"
	}
	return a
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}

// eventTitle says what a log entry records, in plain words.
func eventTitle(e ledger.Entry) string {
	f := e.Fields
	switch e.Type {
	case ledger.RequestReceived:
		return "A requester asked to use “" + f["dataset"] + "”"
	case ledger.RequestApproved:
		return "You approved a request"
	case ledger.RequestDenied:
		return "You denied a request"
	case ledger.JobAccepted:
		return "An algorithm was allowed to run on your data"
	case ledger.JobRejected:
		return "A run was refused: " + strings.ReplaceAll(f["reason"], "_", " ")
	case ledger.RunFinished:
		if f["status"] == "succeeded" {
			return "The run finished"
		}
		return "The run failed"
	case ledger.ResultReleased:
		return "A result left your vault, with a receipt"
	case ledger.ClaimCreated:
		amount, err := strconv.ParseInt(f["amount"], 10, 64)
		if err != nil {
			return "A payment is owed to you"
		}
		return "A payment is owed to you: " + money(amount, f["currency"])
	case ledger.ClaimAcknowledged:
		return "A requester acknowledged a payment it owes you"
	case ledger.ClaimDisputed:
		return "A requester disputed a payment"
	case ledger.DatasetImported:
		return "You added the dataset “" + f["dataset"] + "”"
	case ledger.DatasetDeleted:
		return "You deleted the dataset “" + f["dataset"] + "”"
	case ledger.OwnerLogin:
		return "You signed in to this page"
	}
	return string(e.Type)
}

// eventKind groups events for their colour in the timeline.
func eventKind(t ledger.EventType) string {
	switch t {
	case ledger.JobAccepted, ledger.RunFinished, ledger.ResultReleased:
		return "run"
	case ledger.JobRejected, ledger.RequestDenied, ledger.DatasetDeleted:
		return "refused"
	case ledger.ClaimCreated, ledger.ClaimAcknowledged, ledger.ClaimDisputed:
		return "money"
	case ledger.RequestReceived, ledger.RequestApproved:
		return "request"
	}
	return "owner"
}

// eventTypes lists the event types for the activity filter, with labels.
var eventTypes = []struct {
	Type  ledger.EventType
	Label string
}{
	{ledger.RequestReceived, "Requests received"},
	{ledger.RequestApproved, "Requests approved"},
	{ledger.RequestDenied, "Requests denied"},
	{ledger.JobAccepted, "Runs allowed"},
	{ledger.JobRejected, "Runs refused"},
	{ledger.RunFinished, "Runs finished"},
	{ledger.ResultReleased, "Results released"},
	{ledger.ClaimCreated, "Payments owed"},
	{ledger.ClaimAcknowledged, "Payments acknowledged"},
	{ledger.ClaimDisputed, "Payments disputed"},
	{ledger.DatasetImported, "Datasets added"},
	{ledger.DatasetDeleted, "Datasets deleted"},
	{ledger.OwnerLogin, "Sign-ins"},
}
