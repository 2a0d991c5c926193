package ui_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/trove-project/trove/internal/sampledata"
	"github.com/trove-project/trove/ledger"
	"github.com/trove-project/trove/vault"
)

// The browser tests drive Debian's chromium, one browser per test binary,
// each test in its own browser context (its own cookies). A missing
// chromium fails them: CI installs it (.ci/run).

var browser struct {
	ctx context.Context
	err error
}

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	path, err := findChromium()
	if err != nil {
		browser.err = err
		return m.Run()
	}
	dataDir, err := os.MkdirTemp("", "trove-ui-chromium-")
	if err != nil {
		browser.err = err
		return m.Run()
	}
	defer os.RemoveAll(dataDir)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.NoFirstRun,
		chromedp.UserDataDir(dataDir),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1280, 900),
	)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(allocCtx)
	defer cancel()
	// Start the browser now, once.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		browser.err = fmt.Errorf("start chromium (%s): %w", path, err)
	}
	browser.ctx = ctx
	return m.Run()
}

func findChromium() (string, error) {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no chromium binary on PATH: the UI's browser tests need it (apt-get install -y chromium; .ci/run does this)")
}

// tab returns a fresh tab in a fresh browser context: no cookies shared
// with other tests.
func tab(t *testing.T) context.Context {
	t.Helper()
	if browser.err != nil {
		t.Fatalf("browser tests cannot run: %v", browser.err)
	}
	ctx, cancel := chromedp.NewContext(browser.ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(cancelTimeout)
	return ctx
}

func do(t *testing.T, ctx context.Context, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatal(err)
	}
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

// screenshotDir is $TROVE_SCREENSHOTS, or a temporary directory.
func screenshotDir(t *testing.T) string {
	if d := os.Getenv("TROVE_SCREENSHOTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), buf, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestBrowserLoginLinkWorksOnce(t *testing.T) {
	w := newWorld(t)
	shots := screenshotDir(t)
	ctx := tab(t)
	link := w.ui.LoginLink()
	do(t, ctx, chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS("main h1")))
	if h := text(t, ctx, "main h1"); h != "Overview" {
		t.Fatalf("after login the page says %q, want the overview", h)
	}
	// The same link again, in a browser with no session: refused.
	other := tab(t)
	do(t, other, chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS("main h1")))
	if h := text(t, other, "main h1"); !strings.Contains(h, "no longer works") {
		t.Fatalf("a used link shows %q, want a refusal", h)
	}
	screenshot(t, other, shots, "0-link-used")
	do(t, other, chromedp.Navigate(w.ui.URL()+"/"), chromedp.WaitVisible(chromedp.CSS("main h1")))
	if h := text(t, other, "main h1"); !strings.Contains(h, "Sign in") {
		t.Fatalf("without a session the overview shows %q, want the sign-in page", h)
	}
	// The first browser stays signed in.
	do(t, ctx, chromedp.Navigate(w.ui.URL()+"/glossary"), chromedp.WaitVisible(chromedp.CSS("#did")))

	// Keyboard: the first Tab reaches the skip link, the next ones the
	// navigation, each with a visible focus ring.
	for i, want := range []string{"Skip to content", "Overview", "Requests"} {
		do(t, ctx, chromedp.KeyEvent("\t"))
		got, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[document.activeElement.textContent.trim(), getComputedStyle(document.activeElement).outlineStyle]`))
		if err != nil {
			t.Fatal(err)
		}
		if got[0] != want || got[1] == "none" {
			t.Fatalf("Tab %d focuses %q with outline %q, want %q with a visible outline", i+1, got[0], got[1], want)
		}
	}
}

func TestBrowserReviewApproveAndSeeTheRun(t *testing.T) {
	w := newWorld(t)
	shots := screenshotDir(t)
	id := w.ask()
	ctx := tab(t)
	do(t, ctx, chromedp.Navigate(w.ui.LoginLink()), chromedp.WaitVisible(chromedp.CSS(".stat.attention")))
	screenshot(t, ctx, shots, "1-overview-pending")

	do(t, ctx, chromedp.Click(chromedp.CSS(`a[href="/requests/`+id+`"]`)), chromedp.WaitVisible(chromedp.ID("approve")))
	if got := text(t, ctx, "main"); !strings.Contains(got, "unverified") || !strings.Contains(got, w.req.DID()) {
		t.Fatalf("the review page does not show the requester's DID and an unverified name:\n%s", got)
	}
	screenshot(t, ctx, shots, "2-request-review")
	do(t, ctx, chromedp.Click(chromedp.ID("approve")), chromedp.WaitVisible(chromedp.CSS(".notice")))
	if got := text(t, ctx, ".notice"); !strings.HasPrefix(got, "Approved") {
		t.Fatalf("after approving the page says %q", got)
	}
	screenshot(t, ctx, shots, "3-request-approved")
	if r, err := w.vault.ConsentRequest(w.ctx, id); err != nil || r.State != "approved" {
		t.Fatalf("request after approval: %+v, %v", r, err)
	}

	run := w.run(id)
	do(t, ctx, chromedp.Navigate(w.ui.URL()+"/activity"), chromedp.WaitVisible(chromedp.CSS(".timeline")))
	got := text(t, ctx, "main")
	for _, want := range []string{"An algorithm was allowed to run on your data", "A result left your vault, with a receipt", "A payment is owed to you", "You signed in to this page"} {
		if !strings.Contains(got, want) {
			t.Fatalf("activity lacks %q:\n%s", want, got)
		}
	}
	screenshot(t, ctx, shots, "4-activity")

	// The receipt's entry: proven in the log by the server, and again by
	// the browser.
	entry := fmt.Sprintf("/activity/%d", run.Receipt.LogIndex)
	do(t, ctx, chromedp.Navigate(w.ui.URL()+entry), chromedp.WaitVisible(chromedp.ID("verdict")),
		chromedp.WaitVisible(chromedp.CSS(`#browser-check[data-result]`)))
	if got := text(t, ctx, "#verdict"); !strings.HasPrefix(got, "Yes.") {
		t.Fatalf("the server's check says %q", got)
	}
	res, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.ID("browser-check"), "data-result"))
	if err != nil || res.Value != "ok" {
		t.Fatalf("the browser's check of the proof: %+v, %v", res, err)
	}
	if got := text(t, ctx, "main"); !strings.Contains(got, "checks out") {
		t.Fatalf("the receipt is not shown as verified:\n%s", got)
	}
	screenshot(t, ctx, shots, "5-activity-entry")

	// Filtering by event type keeps only that event.
	do(t, ctx, chromedp.Navigate(w.ui.URL()+"/activity?type=owner.login"), chromedp.WaitVisible(chromedp.CSS(".timeline")))
	if got := text(t, ctx, ".timeline"); strings.Contains(got, "allowed to run") || !strings.Contains(got, "signed in") {
		t.Fatalf("the filtered timeline shows:\n%s", got)
	}

	for _, p := range []struct{ path, name, wait string }{
		{"/", "6-overview", ".chart rect"},
		{"/consents", "7-consents", "progress"},
		{"/earnings", "8-earnings", ".chart rect"},
		{"/datasets", "9-datasets", "#upload"},
		{"/requests", "10-requests", "table"},
		{"/glossary", "11-glossary", "#receipt"},
	} {
		do(t, ctx, chromedp.Navigate(w.ui.URL()+p.path), chromedp.WaitVisible(chromedp.CSS(p.wait)))
		screenshot(t, ctx, shots, p.name)
	}
	if got := text(t, ctx, "main"); !strings.Contains(got, "DID") {
		t.Fatalf("the glossary lacks DID:\n%s", got)
	}
	t.Logf("screenshots in %s", shots)
}

func TestBrowserUploadAndDeleteDataset(t *testing.T) {
	w := newWorld(t)
	ctx := tab(t)
	csv := filepath.Join(t.TempDir(), "steps.csv")
	if err := os.WriteFile(csv, []byte("day,steps\n1,5000\n2,7200\n3,6400\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	do(t, ctx, chromedp.Navigate(w.ui.LoginLink()), chromedp.WaitVisible(chromedp.CSS("main h1")),
		chromedp.Navigate(w.ui.URL()+"/datasets"), chromedp.WaitVisible(chromedp.ID("upload")),
		chromedp.SendKeys(chromedp.ID("ds-name"), "steps"),
		chromedp.SetUploadFiles(chromedp.ID("ds-file"), []string{csv}),
		chromedp.Click(chromedp.CSS(`#upload button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(".notice")))
	if got := text(t, ctx, "main"); !strings.Contains(got, "Dataset added") || !strings.Contains(got, "steps") {
		t.Fatalf("after the upload the page shows:\n%s", got)
	}
	if d, err := w.vault.Datasets(w.ctx); err != nil || len(d) != 2 {
		t.Fatalf("datasets after upload: %v, %v", d, err)
	}
	do(t, ctx, chromedp.Click(chromedp.CSS(`a[href="/datasets/steps/delete"]`)),
		chromedp.WaitVisible(chromedp.CSS("button.danger")),
		chromedp.Click(chromedp.CSS("button.danger")),
		chromedp.WaitVisible(chromedp.CSS(".notice")))
	if d, err := w.vault.Datasets(w.ctx); err != nil || len(d) != 1 {
		t.Fatalf("datasets after delete: %v, %v", d, err)
	}
}

// serveOther serves a page on another 127.0.0.1 port: another origin.
func serveOther(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

func TestBrowserAnotherOriginCannotFrameTheUI(t *testing.T) {
	w := newWorld(t)
	ctx := tab(t)
	do(t, ctx, chromedp.Navigate(w.ui.LoginLink()), chromedp.WaitVisible(chromedp.CSS("main h1")))
	// A control page, framable, on a third origin: it shows that a frame
	// that is allowed does load, so the check below can fail.
	control := serveOther(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "<!doctype html><p>control</p>")
	}))
	target := w.ui.URL() + "/glossary"
	evil := serveOther(t, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(rw, `<!doctype html><iframe id="ui" src="%s"></iframe><iframe id="control" src="%s/"></iframe>`, target, control)
	}))
	do(t, ctx, chromedp.Navigate(evil+"/"), chromedp.WaitReady(chromedp.ID("control")))
	deadline := time.Now().Add(20 * time.Second)
	for {
		tree, err := chromedp.Call(ctx, page.GetFrameTree, cdp.Empty{})
		if err != nil {
			t.Fatal(err)
		}
		frames := map[string]*cdp.Frame{}
		for _, c := range tree.FrameTree.ChildFrames {
			frames[c.Frame.URL] = c.Frame
			if c.Frame.UnreachableURL != "" {
				frames[c.Frame.UnreachableURL] = c.Frame
			}
		}
		ctl, ui := frames[control+"/"], frames[target]
		if ctl != nil && ui != nil {
			if ui.URL == target && ui.UnreachableURL == "" {
				t.Fatalf("the UI loaded inside a frame of another origin: %+v", ui)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("frames did not settle: %+v", frames)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestBrowserCrossOriginPostIsRefused(t *testing.T) {
	w := newWorld(t)
	id := w.ask()
	ctx := tab(t)
	do(t, ctx, chromedp.Navigate(w.ui.LoginLink()), chromedp.WaitVisible(chromedp.CSS("main h1")))
	// Another origin on the same host: the session cookie (SameSite=Strict,
	// but same site) goes along, the CSRF token cannot.
	evil := serveOther(t, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(rw, `<!doctype html><form method="post" action="%s/requests/%s/approve"><input type="hidden" name="csrf" value="guess"><button id="go">win a prize</button></form>`, w.ui.URL(), id)
	}))
	do(t, ctx, chromedp.Navigate(evil+"/"), chromedp.Click(chromedp.ID("go")), chromedp.WaitVisible(chromedp.CSS(".problem")))
	if r, err := w.vault.ConsentRequest(w.ctx, id); err != nil || r.State != "pending" {
		t.Fatalf("a cross-origin POST changed the request: %+v, %v", r, err)
	}
}

// The owner sets a dataset to "you review every result" from the datasets
// page; the next run's result waits on the overview and the results page;
// the owner reads it, releases it after a confirmation, and the requester
// then gets it with a receipt that verifies.
func TestBrowserReviewAndReleaseAHeldResult(t *testing.T) {
	w := newWorld(t)
	shots := screenshotDir(t)
	ctx := tab(t)
	do(t, ctx, chromedp.Navigate(w.ui.LoginLink()), chromedp.WaitVisible(chromedp.CSS("main h1")),
		chromedp.Navigate(w.ui.URL()+"/datasets"),
		chromedp.Click(chromedp.CSS(`a[href="/datasets/`+sampledata.BreastCancerName+`/privacy"]`)),
		chromedp.WaitVisible(chromedp.ID("privacy-form")))
	screenshot(t, ctx, shots, "12-privacy-settings")
	do(t, ctx, chromedp.Click(chromedp.ID("policy-review")),
		chromedp.SetValue(chromedp.ID("budget-eps"), "3"),
		chromedp.Click(chromedp.ID("save-privacy")),
		chromedp.WaitVisible(chromedp.CSS(".notice")))
	if got := text(t, ctx, "main"); !strings.Contains(got, "Privacy settings saved") || !strings.Contains(got, "you review every result") || !strings.Contains(got, "ε 3 left") {
		t.Fatalf("after saving the datasets page shows:\n%s", got)
	}
	screenshot(t, ctx, shots, "13-datasets-with-privacy")

	job := w.runCredential(w.consentTo(w.module, 1), w.module, "")
	if job.State != vault.JobAwaitingReview {
		t.Fatalf("the requester sees %s, want awaiting_review", job.State)
	}
	do(t, ctx, chromedp.Navigate(w.ui.URL()+"/"), chromedp.WaitVisible(chromedp.ID("held-stat")))
	screenshot(t, ctx, shots, "14-overview-result-held")
	do(t, ctx, chromedp.Click(chromedp.ID("held-stat")), chromedp.WaitVisible(chromedp.CSS(`a[href="/results/`+job.ID+`"]`)))
	screenshot(t, ctx, shots, "15-results")
	do(t, ctx, chromedp.Click(chromedp.CSS(`a[href="/results/`+job.ID+`"]`)), chromedp.WaitVisible(chromedp.ID("result")))
	if got := text(t, ctx, "#result"); !strings.Contains(got, `"mean_radius"`) {
		t.Fatalf("the review page shows the result as:\n%s", got)
	}
	screenshot(t, ctx, shots, "16-result-review")
	do(t, ctx, chromedp.Click(chromedp.ID("release")), chromedp.WaitVisible(chromedp.ID("confirm")))
	screenshot(t, ctx, shots, "17-result-release-confirm")
	do(t, ctx, chromedp.Click(chromedp.ID("confirm")), chromedp.WaitVisible(chromedp.CSS(".notice")))
	if got := text(t, ctx, ".notice"); !strings.HasPrefix(got, "Released") {
		t.Fatalf("after releasing the page says %q", got)
	}

	got, err := w.req.Signed(w.client).Job(w.ctx, job.ID)
	if err != nil || got.State != vault.JobSucceeded || len(got.Result) == 0 {
		t.Fatalf("after the release the requester sees %+v, %v", got, err)
	}
	if _, _, err := ledger.VerifyReceipt(got.Receipt, w.vault.DID()); err != nil {
		t.Fatalf("the released result's receipt: %v", err)
	}

	// A run that fails: the owner sees why, and what it wrote, folded away.
	module := hostile(t)
	failed := w.runCredential(w.consentTo(module, 1), module, `{"mode":"exit"}`)
	do(t, ctx, chromedp.Navigate(w.ui.URL()+"/runs"), chromedp.WaitVisible(chromedp.CSS("#job-"+failed.ID)))
	open, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector("details.stderr").open`))
	if err != nil || open {
		t.Fatalf("the failed run's stderr is not folded away: open %v, %v", open, err)
	}
	screenshot(t, ctx, shots, "18-runs")
	do(t, ctx, chromedp.Click(chromedp.CSS("details.stderr summary")), chromedp.WaitVisible(chromedp.CSS("details.stderr pre")))
	if got := text(t, ctx, "details.stderr pre"); !strings.Contains(got, "giving up") {
		t.Fatalf("the failed run's stderr shows %q", got)
	}
	screenshot(t, ctx, shots, "19-runs-stderr-open")
}
