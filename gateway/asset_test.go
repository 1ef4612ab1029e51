package gateway

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"parley/node/web"
)

// The app's files: gzipped for browsers that take it, revalidated by ETag.
func TestAssets(t *testing.T) {
	g := &Gateway{now: time.Now}
	h := http.HandlerFunc(g.asset)
	for _, name := range web.Assets {
		want, _ := fs.ReadFile(web.Static(), name)
		req := httptest.NewRequest("GET", "/"+name, nil)
		req.Header.Set("Accept-Encoding", "br, gzip;q=0.8")
		rec := httptest.NewRecorder()
		start := time.Now()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 || rec.Header().Get("Content-Encoding") != "gzip" || rec.Header().Get("ETag") == "" {
			t.Fatalf("%s: %d %v", name, rec.Code, rec.Header())
		}
		size := rec.Body.Len()
		zr, err := gzip.NewReader(rec.Body)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(zr)
		if !bytes.Equal(got, want) {
			t.Fatalf("%s: gunzipped, not the file", name)
		}
		t.Logf("%s: %d bytes, %d gzipped (%v)", name, len(want), size, time.Since(start))

		req = httptest.NewRequest("GET", "/"+name, nil)
		req.Header.Set("If-None-Match", rec.Header().Get("ETag"))
		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusNotModified || rec.Body.Len() != 0 {
			t.Fatalf("%s revalidated: %d, %d bytes", name, rec.Code, rec.Body.Len())
		}
		req = httptest.NewRequest("GET", "/"+name, nil)
		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Header().Get("Content-Encoding") != "" || !bytes.Equal(rec.Body.Bytes(), want) {
			t.Fatalf("%s without gzip: %v", name, rec.Header())
		}
	}
}
