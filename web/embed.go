// Package web is the dashboard: plain HTML, CSS and JavaScript modules with
// no framework and no build step, embedded in the binary so that `go build`
// never needs front-end tooling and the page always matches the server.
//
// The page is served at "/" and its assets under AssetPrefix. Every response
// carries a Content-Security-Policy that allows nothing but this server's
// own files: the page has no inline script or style and loads nothing from
// elsewhere.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

// AssetPrefix is the path under which the dashboard's files are served.
const AssetPrefix = "/ui/"

// contentSecurityPolicy allows the page this server's scripts, styles and
// images, and its API (fetch and EventSource), and nothing else.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// static is the dashboard's files. go:embed needs a package-level variable;
// it is read-only.
//
//go:embed static
var static embed.FS

// asset is one file, ready to serve.
type asset struct {
	name        string
	body        []byte
	contentType string
	etag        string
}

// handler serves the page and its assets from memory.
type handler struct {
	assets   map[string]asset // by request path
	notFound http.Handler
}

// Handler returns the dashboard's handler. Mount it for GET at "/" and at
// AssetPrefix + "*"; it passes any other path to notFound.
func Handler(notFound http.Handler) http.Handler {
	h := &handler{assets: make(map[string]asset), notFound: notFound}
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	err = fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(sub, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		a := asset{name: p, body: body, contentType: contentType(p),
			etag: `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`}
		if p == "index.html" {
			h.assets["/"] = a
			return nil
		}
		h.assets[AssetPrefix+p] = a
		return nil
	})
	if err != nil {
		panic(err)
	}
	return h
}

func contentType(name string) string {
	switch path.Ext(name) {
	case ".js", ".mjs":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".html":
		return "text/html; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	}
	if t := mime.TypeByExtension(path.Ext(name)); t != "" {
		return t
	}
	return "application/octet-stream"
}

// ServeHTTP implements http.Handler.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a, ok := h.assets[r.URL.Path]
	if !ok || strings.HasSuffix(r.URL.Path, "/index.html") {
		h.notFound.ServeHTTP(w, r)
		return
	}
	hd := w.Header()
	hd.Set("Content-Security-Policy", contentSecurityPolicy)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Content-Type", a.contentType)
	// Revalidate every time: the files are small and change with the
	// binary, and the ETag makes an unchanged file a 304.
	hd.Set("Cache-Control", "no-cache")
	hd.Set("ETag", a.etag)
	http.ServeContent(w, r, a.name, time.Time{}, bytes.NewReader(a.body))
}
