package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/trove-project/trove"
	"github.com/trove-project/trove/vault"
)

// Names of the parts of a streamed job upload, in this order.
const (
	UploadJobPart    = "job"    // application/json: a JobBody without its module
	UploadModulePart = "module" // application/wasm: the module's bytes
)

// submitJobUpload takes a job as multipart/form-data: the job's JSON, then
// the module's bytes, streamed: the body is hashed against the
// Content-Digest its signature covers as it arrives, and the module held
// once (no base64, no JSON copy), up to the job body limit. The job runs
// only after the whole body was read and matched its digest; the vault
// then checks the module's hash against the consent as for any job.
func (s *Server) submitJobUpload(c echo.Context) error {
	mr, err := c.Request().MultipartReader()
	if err != nil {
		return trove.Errorf(trove.EINVALID, "the body is not multipart/form-data: %v", err)
	}
	part, err := mr.NextPart()
	if err != nil || part.FormName() != UploadJobPart {
		return uploadError(err, "the first part must be %q, the job's JSON", UploadJobPart)
	}
	var body JobBody
	dec := json.NewDecoder(io.LimitReader(part, MaxSmallBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		return uploadError(err, "the %q part is not valid JSON for a job", UploadJobPart)
	}
	if len(body.Module) > 0 {
		return trove.Errorf(trove.EINVALID, "a streamed job carries its module in the %q part, not in its JSON", UploadModulePart)
	}
	part, err = mr.NextPart()
	if err != nil || part.FormName() != UploadModulePart {
		return uploadError(err, "the second part must be %q, the module", UploadModulePart)
	}
	var module bytes.Buffer
	n, err := io.Copy(&module, io.LimitReader(part, MaxJobBody+1))
	if err != nil {
		return uploadError(err, "reading the module")
	}
	if n > MaxJobBody {
		return trove.Errorf(trove.ETOOLARGE, "the module is over the limit of %d bytes", MaxJobBody)
	}
	if _, err := mr.NextPart(); !errors.Is(err, io.EOF) {
		return uploadError(err, "a job upload has exactly two parts")
	}
	// Read to the end, so the body is checked against its digest.
	if _, err := io.Copy(io.Discard, io.LimitReader(c.Request().Body, 4<<10)); err != nil {
		return uploadError(err, "reading the end of the body")
	}
	job, err := s.Vault.RunJob(c.Request().Context(), vault.JobRequest{
		Presentation: body.Presentation, Algorithm: body.Algorithm, Module: module.Bytes(), Params: body.Params,
		Requester: requesterOf(c),
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, job)
}

// uploadError explains a malformed upload, keeping a trove error (a body
// over its limit, a body that does not match its digest) as it is.
func uploadError(err error, format string, args ...any) error {
	var te *trove.Error
	if errors.As(err, &te) {
		return te
	}
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return trove.Errorf(trove.ETOOLARGE, "the body is over the limit of %d bytes", tooLarge.Limit)
	}
	return trove.Errorf(trove.EINVALID, format, args...)
}
