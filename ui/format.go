package ui

import (
	"fmt"
	"html/template"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/trove-project/trove/compute"
	"github.com/trove-project/trove/consent"
	"github.com/trove-project/trove/ledger"
	"github.com/trove-project/trove/vault"
)

// funcs are the template helpers: formatting only, no I/O.
var funcs = template.FuncMap{
	"money":      money,
	"shortDID":   shortDID,
	"date":       func(t time.Time) string { return t.UTC().Format("2 Jan 2006") },
	"dateTime":   func(t time.Time) string { return t.UTC().Format("2 Jan 2006, 15:04 UTC") },
	"clock":      func(t time.Time) string { return t.UTC().Format("15:04:05") },
	"algorithm":  algorithmName,
	"builtin":    compute.IsBuiltin,
	"plural":     plural,
	"event":      eventTitle,
	"eventKind":  eventKind,
	"policy":     policyWords,
	"reason":     reasonWords,
	"eps":        epsWords,
	"budgetUsed": budgetUsed,
	"decidedBy":  decidedBy,
	"per":        perWords,
	"share":      consent.ShareWords,
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
		if f["by"] == "rule" {
			return "Your rule “" + f["rule_id"] + "” approved a request"
		}
		return "You approved a request"
	case ledger.RequestDenied:
		if f["by"] == "rule" {
			return "Your rule “" + f["rule_id"] + "” denied a request"
		}
		return "You denied a request"
	case ledger.JobAccepted:
		return "An algorithm was allowed to run on your data"
	case ledger.JobRejected:
		return "A run was refused: " + refusalWords(f["reason"])
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
		if f["share"] != "" {
			return "A training round's payment is owed to you: " + money(amount, f["currency"]) + " for now, until it is settled by your share of the round"
		}
		return "A payment is owed to you: " + money(amount, f["currency"])
	case ledger.ClaimSettled:
		amount, err := strconv.ParseInt(f["amount"], 10, 64)
		if err != nil {
			return "A requester settled a training round's payment"
		}
		return "A requester settled a training round's payment at your share: " + money(amount, f["currency"])
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
	case ledger.ResultHeld:
		return "A result is waiting for your review"
	case ledger.ResultWithheld:
		return "You withheld a result: nothing left your vault"
	case ledger.PrivacySet:
		return "You changed the privacy settings of “" + f["dataset"] + "”"
	case ledger.ConsentRevoked:
		return "You revoked a consent"
	case ledger.RequestCountered:
		return "You answered a request with narrower terms"
	case ledger.CounterAccepted:
		return "The requester accepted your narrower terms"
	case ledger.CounterDeclined:
		return "The requester declined your narrower terms"
	case ledger.PolicySet:
		return "You changed your standing rules"
	case ledger.DIDRotated:
		return "You gave your vault a new key, and so a new identity (DID)"
	}
	return string(e.Type)
}

// eventKind groups events for their colour in the timeline.
func eventKind(t ledger.EventType) string {
	switch t {
	case ledger.JobAccepted, ledger.RunFinished, ledger.ResultReleased:
		return "run"
	case ledger.JobRejected, ledger.RequestDenied, ledger.DatasetDeleted, ledger.ResultWithheld, ledger.ConsentRevoked, ledger.CounterDeclined:
		return "refused"
	case ledger.ResultHeld:
		return "request"
	case ledger.ClaimCreated, ledger.ClaimAcknowledged, ledger.ClaimDisputed, ledger.ClaimSettled:
		return "money"
	case ledger.RequestReceived, ledger.RequestApproved, ledger.RequestCountered, ledger.CounterAccepted:
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
	{ledger.RequestCountered, "Counter-offers sent"},
	{ledger.CounterAccepted, "Counter-offers accepted"},
	{ledger.CounterDeclined, "Counter-offers declined"},
	{ledger.ConsentRevoked, "Consents revoked"},
	{ledger.JobAccepted, "Runs allowed"},
	{ledger.JobRejected, "Runs refused"},
	{ledger.RunFinished, "Runs finished"},
	{ledger.ResultHeld, "Results held for review"},
	{ledger.ResultReleased, "Results released"},
	{ledger.ResultWithheld, "Results withheld"},
	{ledger.ClaimCreated, "Payments owed"},
	{ledger.ClaimAcknowledged, "Payments acknowledged"},
	{ledger.ClaimDisputed, "Payments disputed"},
	{ledger.ClaimSettled, "Payments settled"},
	{ledger.DatasetImported, "Datasets added"},
	{ledger.DatasetDeleted, "Datasets deleted"},
	{ledger.PrivacySet, "Privacy settings changed"},
	{ledger.PolicySet, "Rules changed"},
	{ledger.DIDRotated, "Key rotations"},
	{ledger.OwnerLogin, "Sign-ins"},
}

// policyWords says in plain words what an output policy lets leave.
func policyWords(kind string) string {
	switch kind {
	case compute.PolicyRelease:
		return "Results go to the requester at once, with a receipt."
	case compute.PolicyReview:
		return "Every result waits for you: you read it, then release or withhold it."
	case compute.PolicyDP:
		return "Only results with privacy noise added may leave, and each run spends privacy budget."
	}
	return kind
}

// reasonWords says why a run failed or was stopped, in plain words.
func reasonWords(reason string) string {
	switch reason {
	case "timeout":
		return "it took too long and was stopped"
	case "module_exit":
		return "the program stopped with an error"
	case "trap":
		return "the program crashed"
	case "output_too_large":
		return "its result was larger than allowed"
	case "bad_output":
		return "its result was not in the expected form"
	case "invalid_module":
		return "the program is not a valid WebAssembly module"
	case "bad_input", "bad_params":
		return "the program could not be given its input"
	case "policy":
		return "its output policy could not be honoured"
	case "canceled":
		return "it was cancelled"
	case "":
		return "no reason given"
	}
	return strings.ReplaceAll(reason, "_", " ")
}

// budgetUsed is the share of a privacy budget spent, in percent.
func budgetUsed(p *vault.Privacy) int {
	if p == nil || p.BudgetEpsilon <= 0 {
		return 0
	}
	return int(math.Min(100, math.Round(100*p.SpentEpsilon/p.BudgetEpsilon)))
}

// epsWords shows an ε or δ for reading: rounded down to two decimals, so
// that what is left is never overstated; a δ below 0.01 as it is.
func epsWords(x float64) string {
	if x > 0 && x < 0.01 {
		return strconv.FormatFloat(x, 'g', 3, 64)
	}
	return strconv.FormatFloat(math.Floor(x*100)/100, 'f', -1, 64)
}

// decidedBy says who decided a request, from vault.ConsentRequest's
// DecidedBy.
func decidedBy(by string) string {
	switch {
	case by == "owner":
		return "by you"
	case by == "requester":
		return "by the requester, who declined your narrower terms"
	case strings.HasPrefix(by, "rule:"):
		return "by your rule “" + strings.TrimPrefix(by, "rule:") + "”"
	}
	return ""
}

// perWords names a pricing unit in words.
func perWords(per string) string {
	switch per {
	case "1000-rows":
		return "thousand rows read"
	case "round":
		return "training round"
	}
	return "run"
}

// refusalWords says why the vault refused to run a job, in plain words.
func refusalWords(reason string) string {
	switch reason {
	case "revoked":
		return "you revoked its consent"
	case "runs_exhausted":
		return "its consent has no runs left"
	case "budget_exhausted":
		return "the dataset's privacy budget is spent"
	case "dataset_changed":
		return "the dataset changed since the consent was given"
	case "algorithm_mismatch":
		return "it was not the algorithm you consented to"
	case "dp_unsupported":
		return "the algorithm cannot add privacy noise"
	case "unknown_consent", "wrong_issuer":
		return "its consent was not one you gave"
	case "nonce_invalid", "holder_not_sender":
		return "its proof of consent was not valid"
	}
	return strings.ReplaceAll(reason, "_", " ")
}
