package api

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/trove-project/trove/vault"
)

// MetricsVault is what the metrics read from a vault when scraped.
type MetricsVault interface {
	Jobs(ctx context.Context) ([]vault.Job, error)
	LogSize(ctx context.Context) (uint64, error)
	Datasets(ctx context.Context) ([]vault.Dataset, error)
	Privacy(ctx context.Context, name string) (*vault.Privacy, error)
	QueueLen() (running, waiting int)
}

// Metrics are the vault's Prometheus metrics: the API's requests and
// latencies (by route pattern, never by id or client), and, read from the
// vault at each scrape, jobs by state, the job queue, the log's size and
// the privacy budget spent per dataset. They carry no personal data. Serve
// Handler on the owner's listener, not the public one.
type Metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// scrapeTimeout bounds the vault queries of one scrape.
const scrapeTimeout = 5 * time.Second

// NewMetrics returns the metrics of v, in a registry of their own.
func NewMetrics(v MetricsVault) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trove_api_requests_total", Help: "Requests to the public API, by route pattern, method and status.",
		}, []string{"route", "method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "trove_api_request_duration_seconds", Help: "Time to answer a request to the public API, by route pattern.",
			Buckets: []float64{.001, .005, .01, .05, .1, .5, 1, 5, 30, 120},
		}, []string{"route"}),
	}
	m.reg.MustRegister(m.requests, m.latency, &vaultCollector{v: v}, collectors.NewGoCollector())
	return m
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

func (m *Metrics) observe(route, method string, code int, d time.Duration) {
	m.requests.WithLabelValues(route, method, strconv.Itoa(code)).Inc()
	m.latency.WithLabelValues(route).Observe(d.Seconds())
}

var (
	descJobs    = prometheus.NewDesc("trove_jobs", "Jobs recorded by the vault, by state.", []string{"state"}, nil)
	descQueue   = prometheus.NewDesc("trove_job_queue", "Jobs running or waiting for a slot now.", []string{"phase"}, nil)
	descLogSize = prometheus.NewDesc("trove_log_entries", "Entries in the tamper-evident log.", nil, nil)
	descSpent   = prometheus.NewDesc("trove_privacy_budget_spent_epsilon", "Differential-privacy budget spent, as ε, by dataset.", []string{"dataset"}, nil)
	descUp      = prometheus.NewDesc("trove_vault_scrape_ok", "1 if the vault answered every query of this scrape.", nil, nil)
)

// vaultCollector reads the vault's gauges at scrape time.
type vaultCollector struct{ v MetricsVault }

func (c *vaultCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descJobs, descQueue, descLogSize, descSpent, descUp} {
		ch <- d
	}
}

func (c *vaultCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	ok := 1.0
	running, waiting := c.v.QueueLen()
	ch <- prometheus.MustNewConstMetric(descQueue, prometheus.GaugeValue, float64(running), "running")
	ch <- prometheus.MustNewConstMetric(descQueue, prometheus.GaugeValue, float64(waiting), "waiting")
	if jobs, err := c.v.Jobs(ctx); err == nil {
		counts := map[string]int{vault.JobRunning: 0, vault.JobSucceeded: 0, vault.JobFailed: 0, vault.JobAwaitingReview: 0, vault.JobWithheld: 0}
		for _, j := range jobs {
			counts[j.State]++
		}
		for state, n := range counts {
			ch <- prometheus.MustNewConstMetric(descJobs, prometheus.GaugeValue, float64(n), state)
		}
	} else {
		ok = 0
	}
	if n, err := c.v.LogSize(ctx); err == nil {
		ch <- prometheus.MustNewConstMetric(descLogSize, prometheus.GaugeValue, float64(n))
	} else {
		ok = 0
	}
	if ds, err := c.v.Datasets(ctx); err == nil {
		for _, d := range ds {
			p, err := c.v.Privacy(ctx, d.Name)
			if err != nil {
				ok = 0
				continue
			}
			ch <- prometheus.MustNewConstMetric(descSpent, prometheus.GaugeValue, p.SpentEpsilon, d.Name)
		}
	} else {
		ok = 0
	}
	ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, ok)
}

// SetMetrics makes the server count its requests in m. Call it before
// Open.
func (s *Server) SetMetrics(m *Metrics) { s.metrics = m }

// observe writes the access log and the request metrics of every request,
// including those refused before routing. The log names the route
// pattern, never the path's ids, the client's address or its identity.
func (s *Server) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		s.inflight.Add(1)
		defer s.inflight.Done()
		start := time.Now()
		if err := next(c); err != nil {
			c.Error(err)
		}
		d := time.Since(start)
		route := c.Path()
		if route == "" {
			route = "unmatched"
		}
		r, res := c.Request(), c.Response()
		method := knownMethod(r.Method)
		if s.metrics != nil {
			s.metrics.observe(route, method, res.Status, d)
		}
		s.Logger.LogAttrs(context.WithoutCancel(r.Context()), slog.LevelInfo, "request",
			slog.String("method", method), slog.String("route", route), slog.Int("status", res.Status),
			slog.Int64("bytes_in", max(r.ContentLength, 0)), slog.Int64("bytes_out", res.Size), slog.Duration("duration", d))
		return nil
	}
}

// knownMethod returns an HTTP method as is if it is a standard one and
// "other" if not: a client chooses the method, and neither the metrics'
// labels nor the log may grow with what it invents.
func knownMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return m
	}
	return "other"
}
