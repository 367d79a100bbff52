// Package swaggerui serves Swagger UI for the service's OpenAPI document from
// assets compiled into the binary, so the docs work on machines without
// internet access and always match the running version.
//
// The page is this package's own (page/), not the one swgui renders: that
// one starts Swagger UI from inline script and style, which a
// Content-Security-Policy could allow only with 'unsafe-inline' or hashes
// that change with each swgui release. Ours loads everything from files
// under MountPath, so the policy is 'self' only.
package swaggerui

import (
	"bytes"
	"embed"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/swaggest/swgui"
	"github.com/swaggest/swgui/v5emb"
)

// MountPath is the path the handler answers at. The page is MountPath itself
// (MountPath + "/" works too) and its assets are under MountPath + "/".
const MountPath = "/docs"

// ContentSecurityPolicy is sent with every response under MountPath. Swagger
// UI gets this server's scripts and styles (no inline ones), images from
// here and data: URIs (swagger-ui.css draws its icons with them), and may
// fetch from this server only: the spec, and the calls of "Try it out". No
// other site may frame the page (clickjacking of "Execute").
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"font-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// pageFiles is the page and the files it adds to Swagger UI's. go:embed
// needs a package-level variable; it is read-only.
//
//go:embed page
var pageFiles embed.FS

// New returns a handler that serves Swagger UI, showing the document at
// specURL (for this service, "/openapi.yaml"). A path-only specURL is fetched
// from the host that served the page, so "Try it out" calls that same server.
//
// Mount the handler at MountPath and at everything below it, passing requests
// through with their full path: with chi, r.Handle(MountPath, h) and
// r.Handle(MountPath+"/*", h). Do not wrap it in http.StripPrefix; the page
// links its assets by absolute path under MountPath.
func New(specURL string) http.Handler {
	// swgui's handler serves Swagger UI's own assets (gzipped when the
	// client accepts it); the page and our two files are served here.
	assets := v5emb.NewHandlerWithConfig(swgui.Config{
		Title:       "autorefresh",
		SwaggerJSON: specURL,
		BasePath:    MountPath,
		// Proxy stays off: it would turn the docs into an open relay that
		// fetches any URL a visitor names.
		Proxy: false,
	})
	tpl := template.Must(template.ParseFS(pageFiles, "page/index.html"))
	var page bytes.Buffer
	if err := tpl.Execute(&page, struct{ Title, Base, SpecURL string }{"autorefresh", MountPath, specURL}); err != nil {
		panic(err) // the template and its data are fixed at build time
	}
	files := map[string]file{
		MountPath:       {"index.html", "text/html; charset=utf-8", page.Bytes()},
		MountPath + "/": {"index.html", "text/html; charset=utf-8", page.Bytes()},
	}
	for name, ct := range map[string]string{"init.js": "text/javascript; charset=utf-8", "page.css": "text/css; charset=utf-8"} {
		body, err := pageFiles.ReadFile("page/" + name)
		if err != nil {
			panic(err)
		}
		files[MountPath+"/"+name] = file{name, ct, body}
	}
	return securityHeaders(readOnly(&handler{files: files, assets: assets}))
}

// file is one of the files served from memory.
type file struct {
	name, contentType string
	body              []byte
}

type handler struct {
	files  map[string]file // by request path
	assets http.Handler
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f, ok := h.files[r.URL.Path]
	if !ok || strings.HasSuffix(r.URL.Path, "/index.html") {
		h.assets.ServeHTTP(w, r)
		return
	}
	w.Header().Set("Content-Type", f.contentType)
	// The files change only with the binary; revalidating costs little.
	w.Header().Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, f.name, time.Time{}, bytes.NewReader(f.body))
}

// securityHeaders sets the policy on every response under MountPath, the
// assets' and errors' included: nosniff makes the browser trust the
// Content-Type, so a file is never run as a script it was not served as.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", ContentSecurityPolicy)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}
