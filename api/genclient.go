package api

import (
	"bytes"
	"context"
	cryptorand "crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/trove-project/trove"
	"github.com/trove-project/trove/api/apigen"
)

// NewGenerated returns the client generated from openapi.yaml for the
// vault at baseURL, with the same checks and defaults as NewClient. Its
// typed answers carry problems as *apigen.Problem; Check turns any answer
// that is not a success into a *trove.Error.
func NewGenerated(baseURL string, httpClient *http.Client, opts ...apigen.ClientOption) (*apigen.ClientWithResponses, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, trove.Errorf(trove.EINVALID, "vault URL %q: want http(s)://host[:port]", baseURL)
	}
	if httpClient == nil {
		httpClient = &http.Client{Timeout: 5 * time.Minute}
	}
	return apigen.NewClientWithResponses(u.String(), append([]apigen.ClientOption{apigen.WithHTTPClient(httpClient)}, opts...)...)
}

// GeneratedResponse is what every typed answer of the generated client
// has.
type GeneratedResponse interface {
	GetBody() []byte
	StatusCode() int
	Status() string
	ContentType() string
}

// Check returns nil for a 2xx answer and otherwise the *trove.Error its
// problem document (or its status) describes; err, the generated client's
// own error (the vault could not be reached or answered nonsense), comes
// back as unavailable. Call it as Check(client.GetCatalogWithResponse(ctx)).
func Check[R GeneratedResponse](r R, err error) error {
	if err != nil {
		return &trove.Error{Code: trove.EUNAVAILABLE, Message: "no usable answer from the vault", Err: err}
	}
	if c := r.StatusCode(); c >= 200 && c < 300 {
		return nil
	}
	body := r.GetBody()
	if len(body) > maxProblemSize {
		body = body[:maxProblemSize]
	}
	resp := &http.Response{StatusCode: r.StatusCode(), Status: r.Status(), Header: http.Header{"Content-Type": {r.ContentType()}},
		Body: io.NopCloser(bytes.NewReader(body))}
	return errorFromResponse(resp)
}

// SignWith makes the generated client sign every request as a requester
// (RFC 9421, see SignRequest), with times from now (nil: time.Now) and
// nonces from rand (nil: crypto/rand).
func SignWith(s Signer, now func() time.Time, rand io.Reader) apigen.ClientOption {
	return apigen.WithRequestEditorFn(signEditor(s, now, rand))
}

// signEditor signs a request of the generated client as SignWith says.
func signEditor(s Signer, now func() time.Time, rand io.Reader) apigen.RequestEditorFn {
	if now == nil {
		now = time.Now
	}
	if rand == nil {
		rand = cryptorand.Reader
	}
	return func(_ context.Context, req *http.Request) error {
		var body []byte
		if req.GetBody != nil {
			rc, err := req.GetBody()
			if err != nil {
				return fmt.Errorf("sign request: %w", err)
			}
			body, err = io.ReadAll(rc)
			rc.Close()
			if err != nil {
				return fmt.Errorf("sign request: %w", err)
			}
		}
		var n [18]byte
		if _, err := io.ReadFull(rand, n[:]); err != nil {
			return fmt.Errorf("request nonce: %w", err)
		}
		return SignRequest(req, body, s, now(), base64.RawURLEncoding.EncodeToString(n[:]))
	}
}
