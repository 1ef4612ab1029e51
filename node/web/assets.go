package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Assets are the web app's files a page loads, index.html aside (each page
// path serves it). The node's web server and the company's gateway serve
// them, and nothing else of the app's directory.
var Assets = []string{"app.js", "app.css", "automerge.wasm", "favicon.svg"}

// asset is one of Assets as served: with an ETag, so that a browser coming
// back revalidates rather than fetches (and keeps what it compiled of the
// script and the WebAssembly: Chromium's code cache is kept with the
// cached response), and gzipped, over a network, for a browser that takes
// it (Automerge's WebAssembly is 3.6 MB, 1.2 MB gzipped).
type asset struct {
	typ  string
	etag string
	raw  []byte
	gz   func() []byte
}

// assets are made at the first request for one: not in every command's
// start. Their gzipped forms are made at the first request for one of them
// (WarmAssets makes them at once).
var assets = sync.OnceValue(func() map[string]*asset {
	types := map[string]string{".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".wasm": "application/wasm", ".svg": "image/svg+xml"}
	out := map[string]*asset{}
	for _, name := range Assets {
		b, err := fs.ReadFile(Static(), name)
		if err != nil {
			panic(err) // embedded at build time
		}
		sum := sha256.Sum256(b)
		gz := sync.OnceValue(func() []byte {
			var gz bytes.Buffer
			zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
			zw.Write(b)
			zw.Close()
			return gz.Bytes()
		})
		out[name] = &asset{typ: types[path.Ext(name)], etag: `"` + hex.EncodeToString(sum[:12]) + `"`, raw: b, gz: gz}
	}
	return out
})

// WarmAssets compresses the assets now (a second or so of CPU), rather than
// at the first request for one.
func WarmAssets() {
	for _, a := range assets() {
		a.gz()
	}
}

// ServeAsset serves the asset name (one of Assets) for a GET or HEAD, and
// reports whether there is one of that name. compress sends it gzipped to a
// browser that takes it: worth it over a network, not on loopback, where
// the browser would only spend the time to inflate it.
func ServeAsset(w http.ResponseWriter, r *http.Request, name string, compress bool) bool {
	f := assets()[name]
	if f == nil {
		return false
	}
	h := w.Header()
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", f.etag)
	if compress {
		h.Set("Vary", "Accept-Encoding")
	}
	h.Set("Content-Type", f.typ)
	if slices.Contains(strings.Split(strings.ReplaceAll(r.Header.Get("If-None-Match"), " ", ""), ","), f.etag) {
		w.WriteHeader(http.StatusNotModified)
		return true
	}
	body := f.raw
	if compress && acceptsGzip(r.Header.Get("Accept-Encoding")) {
		h.Set("Content-Encoding", "gzip")
		body = f.gz()
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if r.Method != http.MethodHead {
		w.Write(body)
	}
	return true
}

// acceptsGzip reports whether an Accept-Encoding takes gzip.
func acceptsGzip(ae string) bool {
	for _, part := range strings.Split(ae, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			return strings.ReplaceAll(params, " ", "") != "q=0"
		}
	}
	return false
}
