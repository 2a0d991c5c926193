package api

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/trove-project/trove"
)

// DIDDocument is the vault's DID document: GET /.well-known/did.json.
type DIDDocument struct {
	Context            []string             `json:"@context"`
	ID                 string               `json:"id"`
	AlsoKnownAs        []string             `json:"alsoKnownAs,omitempty"`
	VerificationMethod []VerificationMethod `json:"verificationMethod"`
	Authentication     []string             `json:"authentication"`
	AssertionMethod    []string             `json:"assertionMethod"`
}

// VerificationMethod is a Multikey (Ed25519) verification method.
type VerificationMethod struct {
	ID                 string `json:"id"`
	Type               string `json:"type"`
	Controller         string `json:"controller"`
	PublicKeyMultibase string `json:"publicKeyMultibase"`
}

// DIDWeb returns the did:web identifier of a vault served at host (a
// domain, with an optional port): did:web:example.org or
// did:web:example.org%3A8470.
func DIDWeb(host string) string { return "did:web:" + strings.ReplaceAll(host, ":", "%3A") }

// didDocument builds the document of a vault whose key is didKey
// (did:key:z…); with webHost set, the document is that of did:web:host,
// which names the did:key as also known as.
func didDocument(didKey, webHost string) (*DIDDocument, error) {
	mb, ok := strings.CutPrefix(didKey, "did:key:")
	if !ok || !strings.HasPrefix(mb, "z6Mk") {
		return nil, trove.Errorf(trove.EINTERNAL, "the vault's DID is not an Ed25519 did:key")
	}
	id := didKey
	var aka []string
	if webHost != "" {
		id, aka = DIDWeb(webHost), []string{didKey}
	}
	vm := id + "#" + mb
	return &DIDDocument{
		Context:            []string{"https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"},
		ID:                 id,
		AlsoKnownAs:        aka,
		VerificationMethod: []VerificationMethod{{ID: vm, Type: "Multikey", Controller: id, PublicKeyMultibase: mb}},
		Authentication:     []string{vm},
		AssertionMethod:    []string{vm},
	}, nil
}

// didJSON serves the vault's DID document.
func (s *Server) didJSON(c echo.Context) error {
	doc, err := didDocument(s.Vault.DID(), s.WebHost)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "max-age=300")
	return c.JSON(http.StatusOK, doc)
}
