package ui

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/trove-project/trove"
	"github.com/trove-project/trove/consent"
	"github.com/trove-project/trove/ledger"
	"github.com/trove-project/trove/vault"
)

// notices are the confirmations shown after an action, by key: a page
// shows only these texts, never one taken from the URL.
var notices = map[string]string{
	"approved":  "Approved. The requester can now run its algorithm, within the terms you accepted.",
	"denied":    "Denied. The requester has been told no.",
	"imported":  "Dataset added. Its values are stored encrypted.",
	"deleted":   "Dataset deleted. The deletion is recorded in your activity log.",
	"privacy":   "Privacy settings saved. They apply to every run from now on, and the change is in your activity log.",
	"released":  "Released. The requester can now fetch the result, with its receipt, and a payment is owed to you.",
	"withheld":  "Withheld. The result was deleted; the requester sees only that you withheld it.",
	"countered": "Counter-offer sent. The requester can accept your narrower terms or decline; nothing runs until they accept.",
	"revoked":   "Consent revoked. From now on every run under it is refused, and the requester can see that it is revoked.",
	"rules":     "Rules saved. They decide new requests from now on; the change is in your activity log.",
}

func notice(r *http.Request) string { return notices[r.URL.Query().Get("done")] }

const chartDays = 14

type dashboardData struct {
	Datasets []DatasetView
	Pending  []vault.ConsentRequest
	Held     int
	Active   []vault.Consent
	Owed     []Total
	Runs     int
	Chart    Chart
}

// Total is an amount in one currency.
type Total struct {
	Label    string
	Amount   int64
	Currency string
	Count    int
}

func (s *Server) dashboard(w http.ResponseWriter, r *http.Request, ss *session) {
	ctx := r.Context()
	ds, err := s.vault.Datasets(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	pending, err := s.vault.ConsentRequests(ctx, vault.Pending)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	pending = waiting(pending)
	cs, err := s.vault.Consents(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	claims, err := s.vault.Claims(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	chart, runs, err := s.accessChart(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	views, err := s.datasetViews(r, ds)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	js, err := s.vault.Jobs(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d := dashboardData{Datasets: views, Pending: pending, Held: len(heldJobs(js)), Active: s.active(cs), Chart: chart, Runs: runs}
	d.Owed = totals(claims, ledger.Claim.Standing)
	s.render(w, r, ss, "dashboard", pageData{Title: "Overview", Nav: "home", Notice: notice(r), Data: d})
}

// active returns the consents still usable now.
func (s *Server) active(cs []vault.Consent) []vault.Consent {
	now := s.cfg.Now()
	var out []vault.Consent
	for _, c := range cs {
		if c.RevokedAt == nil && c.RunsUsed < c.MaxRuns && now.Before(c.ExpiresAt) {
			out = append(out, c)
		}
	}
	return out
}

// accessChart counts runs allowed and refused per day.
func (s *Server) accessChart(ctx context.Context) (Chart, int, error) {
	now := s.cfg.Now()
	ran := make([]float64, chartDays)
	refused := make([]float64, chartDays)
	total := 0
	for _, t := range []ledger.EventType{ledger.JobAccepted, ledger.JobRejected} {
		es, err := s.vault.LogEntries(ctx, vault.LogFilter{Type: t})
		if err != nil {
			return Chart{}, 0, err
		}
		for _, e := range es {
			i := dayIndex(now, e.Entry.Time, chartDays)
			if i < 0 {
				continue
			}
			if t == ledger.JobAccepted {
				ran[i]++
				total++
			} else {
				refused[i]++
			}
		}
	}
	return dailyChart("Accesses to your data per day over the last two weeks", now, chartDays, []Series{
		{Class: "s-ran", Label: "runs", Values: ran},
		{Class: "s-refused", Label: "refused", Values: refused},
	}), total, nil
}

// totals sums what claims are owed (a settled claim at its settled
// amount) per currency and key, in first-seen order.
func totals(cs []ledger.Claim, key func(ledger.Claim) string) []Total {
	idx := map[[2]string]int{}
	var out []Total
	for _, c := range cs {
		k := [2]string{key(c), c.Currency}
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, Total{Label: k[0], Currency: c.Currency})
		}
		out[i].Amount += c.Owed()
		out[i].Count++
	}
	return out
}

type requestsData struct {
	Pending   []vault.ConsentRequest
	Countered []vault.ConsentRequest // waiting for the requester's answer
	Decided   []vault.ConsentRequest
}

// waiting keeps the requests that wait for the owner: a request the owner
// countered waits for the requester instead.
func waiting(rs []vault.ConsentRequest) []vault.ConsentRequest {
	var out []vault.ConsentRequest
	for _, x := range rs {
		if x.State == vault.Pending {
			out = append(out, x)
		}
	}
	return out
}

func (s *Server) requests(w http.ResponseWriter, r *http.Request, ss *session) {
	rs, err := s.vault.ConsentRequests(r.Context(), "")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var d requestsData
	for _, x := range rs {
		switch x.State {
		case vault.Pending:
			d.Pending = append(d.Pending, x)
		case vault.Countered:
			d.Countered = append(d.Countered, x)
		default:
			d.Decided = append(d.Decided, x)
		}
	}
	s.render(w, r, ss, "requests", pageData{Title: "Requests", Nav: "requests", Notice: notice(r), Data: d})
}

type requestData struct {
	R       *vault.ConsentRequest
	Total   int64 // price × runs
	Expired bool
	Columns []string    // the columns asked for
	Form    counterForm // the counter-offer form
	Problem string      // why a counter-offer was refused
	Offer   *consent.Counter
}

func (s *Server) requestView(x *vault.ConsentRequest, cols []string) requestData {
	return requestData{R: x, Total: x.Price.Amount * int64(x.MaxRuns), Expired: !s.cfg.Now().Before(x.ExpiresAt),
		Columns: cols, Form: askedForm(x, cols)}
}

func (s *Server) request(w http.ResponseWriter, r *http.Request, ss *session) {
	x, err := s.vault.ConsentRequest(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	cols, err := s.askedColumns(r.Context(), x)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d := s.requestView(x, cols)
	if x.CounterOffer != "" {
		// The vault signed it (under the DID it had then: the offer may
		// predate a key rotation); reading it back shows the owner exactly
		// what the requester was offered.
		for _, id := range s.vault.OwnerDIDs() {
			if co, err := consent.VerifyCounter(x.CounterOffer, id, x.Requester, s.cfg.Now()); err == nil {
				d.Offer = co
				break
			}
		}
	}
	s.render(w, r, ss, "request", pageData{Title: "Review a request", Nav: "requests", Notice: notice(r), Data: d})
}

func (s *Server) approve(w http.ResponseWriter, r *http.Request, _ *session, _ *multipart.Reader) {
	id := r.PathValue("id")
	if _, err := s.vault.Approve(r.Context(), id); err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/requests/"+url.PathEscape(id)+"?done=approved", http.StatusSeeOther)
}

func (s *Server) deny(w http.ResponseWriter, r *http.Request, _ *session, _ *multipart.Reader) {
	id := r.PathValue("id")
	if _, err := s.vault.Deny(r.Context(), id); err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/requests/"+url.PathEscape(id)+"?done=denied", http.StatusSeeOther)
}

// ConsentView is a consent with its state in words.
type ConsentView struct {
	vault.Consent
	State    string // "active", "used up", "ended" or "revoked"
	EndsSoon bool   // active, and ends within a week
}

func (s *Server) consents(w http.ResponseWriter, r *http.Request, ss *session) {
	cs, err := s.vault.Consents(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	now := s.cfg.Now()
	var out []ConsentView
	for _, c := range cs {
		st := "active"
		switch {
		case c.RevokedAt != nil:
			st = "revoked"
		case c.RunsUsed >= c.MaxRuns:
			st = "used up"
		case !now.Before(c.ExpiresAt):
			st = "ended"
		}
		soon := st == "active" && c.ExpiresAt.Sub(now) < 7*24*time.Hour
		out = append(out, ConsentView{Consent: c, State: st, EndsSoon: soon})
	}
	s.render(w, r, ss, "consents", pageData{Title: "Consents", Nav: "consents", Notice: notice(r), Data: out})
}

// activityPage is how many entries the timeline shows at once.
const activityPage = 50

type activityData struct {
	Filter     vault.LogFilter
	Types      any
	Requesters []string
	Datasets   []string
	Days       []activityDay
	Older      string // query of the next page, if any
	Filtered   bool
}

type activityDay struct {
	Date    string
	Entries []vault.LoggedEntry
}

func (s *Server) activity(w http.ResponseWriter, r *http.Request, ss *session) {
	ctx := r.Context()
	q := r.URL.Query()
	f := vault.LogFilter{Type: ledger.EventType(q.Get("type")), Requester: q.Get("requester"), Dataset: q.Get("dataset"), Limit: activityPage}
	if b := q.Get("before"); b != "" {
		n, err := strconv.ParseUint(b, 10, 64)
		if err != nil {
			s.fail(w, r, trove.Errorf(trove.EINVALID, "The page number in the address is not a number."))
			return
		}
		f.Before = n
	}
	es, err := s.vault.LogEntries(ctx, f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d := activityData{Filter: f, Types: eventTypes, Filtered: f.Type != "" || f.Requester != "" || f.Dataset != ""}
	for _, e := range es {
		day := e.Entry.Time.UTC().Format("Monday 2 January 2006")
		if n := len(d.Days); n == 0 || d.Days[n-1].Date != day {
			d.Days = append(d.Days, activityDay{Date: day})
		}
		d.Days[len(d.Days)-1].Entries = append(d.Days[len(d.Days)-1].Entries, e)
	}
	if len(es) == activityPage {
		q.Set("before", strconv.FormatUint(es[len(es)-1].Index, 10))
		d.Older = q.Encode()
	}
	if d.Requesters, d.Datasets, err = s.filterChoices(ctx); err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, ss, "activity", pageData{Title: "Activity", Nav: "activity", Data: d})
}

// filterChoices lists the requesters and datasets the vault knows of.
func (s *Server) filterChoices(ctx context.Context) (requesters, datasets []string, err error) {
	rs, err := s.vault.ConsentRequests(ctx, "")
	if err != nil {
		return nil, nil, err
	}
	seenR, seenD := map[string]bool{}, map[string]bool{}
	for _, x := range rs {
		if !seenR[x.Requester] {
			seenR[x.Requester] = true
			requesters = append(requesters, x.Requester)
		}
		seenD[x.Dataset] = true
	}
	ds, err := s.vault.Datasets(ctx)
	if err != nil {
		return nil, nil, err
	}
	for _, x := range ds {
		seenD[x.Name] = true
	}
	for n := range seenD {
		datasets = append(datasets, n)
	}
	sort.Strings(datasets)
	return requesters, datasets, nil
}

type entryData struct {
	E        vault.LoggedEntry
	Fields   [][2]string
	Proof    proofView
	Receipt  *receiptView
	RawB64   string
	RawText  string
	Checkpt  string
	Verified bool
	Problem  string
}

type proofView struct {
	Size   uint64
	Root   string
	Leaf   string
	Hashes []string
	Joined string // space-separated, for the in-browser check
}

type receiptView struct {
	ID       string
	Verified bool
	Problem  string
	Size     uint64
}

func (s *Server) activityEntry(w http.ResponseWriter, r *http.Request, ss *session) {
	ctx := r.Context()
	idx, err := strconv.ParseUint(r.PathValue("index"), 10, 64)
	if err != nil {
		s.fail(w, r, trove.Errorf(trove.ENOTFOUND, "There is no such entry in your activity log."))
		return
	}
	es, err := s.vault.LogEntries(ctx, vault.LogFilter{Before: idx + 1, Limit: 1})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if len(es) != 1 || es[0].Index != idx {
		s.fail(w, r, trove.Errorf(trove.ENOTFOUND, "There is no such entry in your activity log."))
		return
	}
	d := entryData{E: es[0], RawB64: base64.StdEncoding.EncodeToString(es[0].Raw), RawText: string(es[0].Raw)}
	for k, v := range es[0].Entry.Fields {
		d.Fields = append(d.Fields, [2]string{k, v})
	}
	sort.Slice(d.Fields, func(i, j int) bool { return d.Fields[i][0] < d.Fields[j][0] })
	if err := s.verifyEntry(ctx, &d); err != nil {
		d.Problem = err.Error()
	} else {
		d.Verified = true
	}
	if id := es[0].Entry.Fields["receipt"]; es[0].Entry.Type == ledger.ResultReleased && id != "" {
		rv := &receiptView{ID: id}
		bundle, err := s.vault.Receipt(ctx, id)
		if err == nil {
			// A receipt made before a key rotation is signed by the DID the
			// vault had then.
			for _, id := range s.vault.OwnerDIDs() {
				var cp *ledger.Checkpoint
				if _, cp, err = ledger.VerifyReceipt(bundle, id); err == nil {
					rv.Size = cp.Size
					break
				}
			}
		}
		rv.Verified = err == nil
		if err != nil {
			rv.Problem = err.Error()
		}
		d.Receipt = rv
	}
	s.render(w, r, ss, "entry", pageData{Title: fmt.Sprintf("Activity entry %d", idx), Nav: "activity", Data: d})
}

// verifyEntry proves the entry is in the log under the current signed
// checkpoint, checking the checkpoint's signature against the vault's DID.
func (s *Server) verifyEntry(ctx context.Context, d *entryData) error {
	note, err := s.vault.Checkpoint(ctx)
	if err != nil {
		return err
	}
	d.Checkpt = string(note)
	cp, err := ledger.OpenCheckpoint(note, s.vault.DID())
	if err != nil {
		return err
	}
	leaf := ledger.LeafHash(d.E.Raw)
	d.Proof = proofView{Size: cp.Size, Root: hex.EncodeToString(cp.Root), Leaf: hex.EncodeToString(leaf)}
	proof, err := s.vault.InclusionProof(ctx, d.E.Index, cp.Size)
	if err != nil {
		return err
	}
	for _, h := range proof {
		d.Proof.Hashes = append(d.Proof.Hashes, hex.EncodeToString(h))
	}
	d.Proof.Joined = strings.Join(d.Proof.Hashes, " ")
	return ledger.VerifyInclusion(leaf, d.E.Index, cp.Size, proof, cp.Root)
}

type earningsData struct {
	ByState     []Total
	ByRequester []Total
	Claims      []ledger.Claim
	Charts      []Chart
}

func (s *Server) earnings(w http.ResponseWriter, r *http.Request, ss *session) {
	claims, err := s.vault.Claims(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d := earningsData{
		Claims:      claims,
		ByState:     totals(claims, ledger.Claim.Standing),
		ByRequester: totals(claims, func(c ledger.Claim) string { return c.Requester }),
	}
	now := s.cfg.Now()
	per := map[string][]float64{}
	var currencies []string
	for _, c := range claims {
		if per[c.Currency] == nil {
			per[c.Currency] = make([]float64, chartDays)
			currencies = append(currencies, c.Currency)
		}
		if i := dayIndex(now, c.CreatedAt, chartDays); i >= 0 {
			per[c.Currency][i] += float64(c.Owed()) / 100
		}
	}
	sort.Strings(currencies)
	for _, cur := range currencies {
		d.Charts = append(d.Charts, dailyChart("Money earned per day over the last two weeks, in "+cur, now, chartDays, []Series{
			{Class: "s-money", Label: cur, Values: per[cur]},
		}))
	}
	if len(d.Charts) == 0 {
		d.Charts = append(d.Charts, dailyChart("Money earned per day over the last two weeks", now, chartDays, []Series{
			{Class: "s-money", Label: "earned", Values: make([]float64, chartDays)},
		}))
	}
	s.render(w, r, ss, "earnings", pageData{Title: "Earnings", Nav: "earnings", Data: d})
}

type datasetsData struct {
	Datasets []DatasetView
	MaxMiB   int64
}

func (s *Server) datasets(w http.ResponseWriter, r *http.Request, ss *session) {
	ds, err := s.vault.Datasets(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	views, err := s.datasetViews(r, ds)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, ss, "datasets", pageData{Title: "Datasets", Nav: "datasets", Notice: notice(r),
		Data: datasetsData{Datasets: views, MaxMiB: s.cfg.MaxUpload >> 20}})
}

// upload streams a multipart form (csrf, name, file, in that order) into
// an import: the file is never held whole in memory or on disk.
func (s *Server) upload(w http.ResponseWriter, r *http.Request, _ *session, mr *multipart.Reader) {
	if mr == nil {
		s.fail(w, r, trove.Errorf(trove.EINVALID, "Choose a CSV file to upload."))
		return
	}
	p, err := mr.NextPart()
	if err != nil || p.FormName() != "name" {
		s.fail(w, r, trove.Errorf(trove.EINVALID, "The upload form is incomplete: give the dataset a name."))
		return
	}
	nb, err := io.ReadAll(io.LimitReader(p, 65))
	if err != nil {
		s.fail(w, r, trove.Errorf(trove.EINVALID, "The upload was interrupted."))
		return
	}
	name := strings.TrimSpace(string(nb))
	if !vault.ValidDatasetName(name) {
		s.fail(w, r, trove.Errorf(trove.EINVALID, "A dataset name is 1 to 64 letters, digits, '_', '.' or '-', starting with a letter or digit."))
		return
	}
	p, err = mr.NextPart()
	if err != nil || p.FormName() != "file" {
		s.fail(w, r, trove.Errorf(trove.EINVALID, "Choose a CSV file to upload."))
		return
	}
	if _, err := s.vault.Import(r.Context(), name, p, vault.ImportOptions{}); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			err = trove.Errorf(trove.ETOOLARGE, "The file is larger than %d MiB.", s.cfg.MaxUpload>>20)
		}
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/datasets?done=imported", http.StatusSeeOther)
}

func (s *Server) confirmDelete(w http.ResponseWriter, r *http.Request, ss *session) {
	name := r.PathValue("name")
	ds, err := s.vault.Datasets(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	for _, d := range ds {
		if d.Name == name {
			s.render(w, r, ss, "delete", pageData{Title: "Delete " + name, Nav: "datasets", Data: d})
			return
		}
	}
	s.fail(w, r, trove.Errorf(trove.ENOTFOUND, "There is no dataset called %q.", name))
}

func (s *Server) deleteDataset(w http.ResponseWriter, r *http.Request, _ *session, _ *multipart.Reader) {
	if err := s.vault.RemoveDataset(r.Context(), r.PathValue("name")); err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/datasets?done=deleted", http.StatusSeeOther)
}

func (s *Server) glossary(w http.ResponseWriter, r *http.Request, ss *session) {
	s.render(w, r, ss, "glossary", pageData{Title: "Words used here", Nav: "glossary"})
}
