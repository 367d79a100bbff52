// Package swaggerui serves Swagger UI for the service's OpenAPI document from
// assets compiled into the binary, so the docs work on machines without
// internet access and always match the running version.
package swaggerui

import (
	"net/http"

	"github.com/swaggest/swgui"
	"github.com/swaggest/swgui/v5emb"
)

// MountPath is the path the handler answers at. The page is MountPath itself
// (MountPath + "/" works too) and its assets are under MountPath + "/".
const MountPath = "/docs"

// New returns a handler that serves Swagger UI, showing the document at
// specURL (for this service, "/openapi.yaml"). A path-only specURL is fetched
// from the host that served the page, so "Try it out" calls that same server.
//
// Mount the handler at MountPath and at everything below it, passing requests
// through with their full path: with chi, r.Handle(MountPath, h) and
// r.Handle(MountPath+"/*", h). Do not wrap it in http.StripPrefix; the page
// links its assets by absolute path under MountPath.
func New(specURL string) http.Handler {
	ui := v5emb.NewHandlerWithConfig(swgui.Config{
		Title:       "autorefresh",
		SwaggerJSON: specURL,
		BasePath:    MountPath,
		// Proxy stays off: it would turn the docs into an open relay that
		// fetches any URL a visitor names.
		Proxy: false,
		SettingsUI: map[string]string{
			// Show the schemas section collapsed instead of hiding it; the
			// schemas carry most of the contract's documentation.
			"defaultModelsExpandDepth": "0",
			"displayOperationId":       "true",
		},
	})
	return readOnly(ui)
}
