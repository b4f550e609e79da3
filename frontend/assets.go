package frontend

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net/http"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/gin-gonic/gin"
	"github.com/klauspost/compress/gzip"
)

const (
	// assetsPrefix is where Assets are served.
	assetsPrefix = "/assets/"
	// govukAssetsDir holds the fonts, images and manifest of govuk-frontend,
	// which its CSS and manifest refer to by fixed URLs under /assets/
	// (govuk-frontend's default $govuk-assets-path).
	govukAssetsDir = "govuk-frontend/assets/"
	// initJS imports govukJS, by the URL that Path gives it, in place of
	// govukJSPlaceholder.
	initJS             = "init.js"
	govukJS            = "govuk-frontend/govuk-frontend.min.js"
	govukJSPlaceholder = "__GOVUK_FRONTEND_JS__"
	// favicon is the icon served at /favicon.ico, where browsers look for
	// one whatever the page says (as a fixed URL under /assets/).
	favicon = "images/favicon.ico"

	cacheImmutable = "public, max-age=31536000, immutable"
	// cacheRevalidate is for fixed URLs, whose content changes with a
	// govuk-frontend upgrade while the URL stays: a browser uses its copy
	// for an hour, then for up to a day more while it revalidates it in the
	// background (a 304 by ETag), so a new file is seen within the hour
	// after a deploy and no page ever waits for it.
	cacheRevalidate = "public, max-age=3600, stale-while-revalidate=86400"

	// minCompressSize is the smallest file served compressed: below it the
	// saving is less than the headers cost.
	minCompressSize = 1024
)

// compressedTypes are the extensions of text files (and the icon, stored
// uncompressed) worth compressing; fonts and PNGs are compressed already.
var compressedTypes = map[string]bool{".css": true, ".js": true, ".json": true, ".svg": true, ".ico": true}

// Encoding is a content coding in which assets are served, made at build
// time by internal/tools/precompress into a file beside the original.
type Encoding struct {
	Name   string // the Content-Encoding token
	Suffix string // the variant's file name is the original's plus Suffix
	decode func(io.Reader) (io.Reader, error)
}

// Encodings are the codings served, most preferred first: brotli's files
// are the smaller.
var Encodings = []Encoding{
	{Name: "br", Suffix: ".br", decode: func(r io.Reader) (io.Reader, error) { return brotli.NewReader(r), nil }},
	{Name: "gzip", Suffix: ".gz", decode: func(r io.Reader) (io.Reader, error) { return gzip.NewReader(r) }},
}

// Compressible reports whether the asset file name of size bytes is served
// compressed, and so must have a variant in every Encoding. init.js is not:
// it is rewritten at start (see NewAssets).
func Compressible(name string, size int) bool {
	return compressedTypes[path.Ext(name)] && size >= minCompressSize && path.Base(name) != initJS
}

// assetTypes holds the Content-Type of each file extension served; files
// with other extensions (LICENSE, VERSION) are not served.
var assetTypes = map[string]string{
	".css":   "text/css; charset=utf-8",
	".js":    "text/javascript; charset=utf-8",
	".json":  "application/json",
	".woff2": "font/woff2",
	".woff":  "font/woff",
	".png":   "image/png",
	".svg":   "image/svg+xml",
	".ico":   "image/x-icon",
}

// versioned matches file names that carry a hash of their own, as
// govuk-frontend's fonts do (bold-b542beb274-v2.woff2).
var versioned = regexp.MustCompile(`[-.][0-9a-f]{10}[-.]`)

// Assets serves embedded static files under /assets/ with content-hashed
// names: a file's URL changes when its content does, so browsers may keep
// it for a year. The logical name "govuk-frontend/govuk-frontend.min.css"
// is served at /assets/govuk-frontend/govuk-frontend.min.<hash>.css, where
// <hash> is the first 10 hex digits of the SHA-256 of the content.
//
// The files under govuk-frontend/assets/ are also served at the fixed URLs
// by which govuk-frontend's CSS and manifest name them: /assets/fonts/…,
// /assets/images/… and /assets/manifest.json.
type Assets struct {
	urls  map[string]string // logical name → URL
	files map[string]*asset // URL path after /assets/ → file
}

// asset is one file as served.
type asset struct {
	representation
	variants     map[string]representation // by Content-Encoding
	contentType  string
	cacheControl string
}

// representation is the body of an asset in one content coding.
type representation struct {
	body []byte
	etag string
}

// NewAssets reads every file of fsys at start. fsys is rooted so that
// "govuk-frontend/govuk-frontend.min.css", "govuk-frontend/assets/fonts/…"
// and "init.js" are paths in it. The import URL placeholder in init.js is
// replaced by the hashed URL of govuk-frontend.min.js, and init.js is
// hashed as served. Each Compressible file must have its variants (name.br,
// name.gz) beside it, made by `go generate ./templates`: a missing one is
// an error.
func NewAssets(fsys fs.FS) (*Assets, error) {
	bodies := map[string][]byte{}
	err := fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || assetTypes[path.Ext(name)] == "" {
			return err
		}
		body, err := fs.ReadFile(fsys, name)
		bodies[name] = body
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("reading assets: %w", err)
	}
	variants := map[string]map[string][]byte{} // name → encoding → body
	for name, body := range bodies {
		if !Compressible(name, len(body)) {
			continue
		}
		variants[name] = map[string][]byte{}
		for _, enc := range Encodings {
			compressed, err := readVariant(fsys, name, enc)
			if err != nil {
				return nil, err
			}
			variants[name][enc.Name] = compressed
		}
	}

	a := &Assets{urls: map[string]string{}, files: map[string]*asset{}}
	for name, body := range bodies {
		if name == initJS {
			js, ok := bodies[govukJS]
			if !ok {
				return nil, fmt.Errorf("assets: %s imports %s, which is missing", initJS, govukJS)
			}
			body = bytes.ReplaceAll(body, []byte(govukJSPlaceholder), []byte(hashedURL(govukJS, js)))
		}
		url := hashedURL(name, body)
		a.urls[name] = url
		if err := a.add(strings.TrimPrefix(url, assetsPrefix), body, variants[name], cacheImmutable); err != nil {
			return nil, err
		}
		if fixed, ok := strings.CutPrefix(name, govukAssetsDir); ok {
			cache := cacheRevalidate
			if versioned.MatchString(path.Base(fixed)) {
				cache = cacheImmutable
			}
			if err := a.add(fixed, body, variants[name], cache); err != nil {
				return nil, err
			}
		}
	}
	if a.files[favicon] == nil {
		return nil, fmt.Errorf("assets: no %s%s", govukAssetsDir, favicon)
	}
	return a, nil
}

// readVariant reads the enc variant of the file name. Whether it
// decompresses to the file is checked by a test over templates/assets
// (TestAssetVariantsCurrent): decoding every variant at each start would
// cost more than serving them saves in a test run.
func readVariant(fsys fs.FS, name string, enc Encoding) ([]byte, error) {
	variant := name + enc.Suffix
	compressed, err := fs.ReadFile(fsys, variant)
	if err != nil {
		return nil, fmt.Errorf("assets: %s: %w (run go generate ./templates)", variant, err)
	}
	return compressed, nil
}

// Decode returns the content of compressed, a body in the encoding.
func (enc Encoding) Decode(compressed []byte) ([]byte, error) {
	r, err := enc.decode(bytes.NewReader(compressed))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

// add serves body, and its compressed variants by encoding, at
// /assets/name. The ETag of a variant is the content hash with the
// encoding appended, so a cache never takes one coding for another.
func (a *Assets) add(name string, body []byte, variants map[string][]byte, cacheControl string) error {
	if _, ok := a.files[name]; ok {
		return fmt.Errorf("assets: two files served at %s%s", assetsPrefix, name)
	}
	hash := contentHash(body)
	f := &asset{
		representation: representation{body: body, etag: `"` + hash + `"`},
		contentType:    assetTypes[path.Ext(name)],
		cacheControl:   cacheControl,
	}
	if len(variants) > 0 {
		f.variants = map[string]representation{}
		for enc, compressed := range variants {
			f.variants[enc] = representation{body: compressed, etag: `"` + hash + "-" + enc + `"`}
		}
	}
	a.files[name] = f
	return nil
}

// contentHash is the first 10 hex digits of the SHA-256 of body.
func contentHash(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:5])
}

// hashedURL is the URL of the file name with content body:
// "a/b.min.css" becomes "/assets/a/b.min.<hash>.css".
func hashedURL(name string, body []byte) string {
	ext := path.Ext(name)
	return assetsPrefix + strings.TrimSuffix(name, ext) + "." + contentHash(body) + ext
}

// Path returns the URL of the asset with the logical name, e.g.
// Path("govuk-frontend/govuk-frontend.min.css") is
// "/assets/govuk-frontend/govuk-frontend.min.3f2a1b9c0d.css", or an error
// when there is no such asset.
func (a *Assets) Path(name string) (string, error) {
	url, ok := a.urls[name]
	if !ok {
		return "", fmt.Errorf("no asset %q", name)
	}
	return url, nil
}

// FuncMap returns the template function "asset", which is Path: an unknown
// name fails the template's execution.
func (a *Assets) FuncMap() template.FuncMap {
	return template.FuncMap{"asset": a.Path}
}

// Handler serves GET and HEAD /assets/*path: register it for both. Hashed
// URLs are cached for a year; the fixed URLs of govuk-frontend's files for
// an hour, then revalidated (for a year when their names carry a hash of
// their own). The ETag is the content hash, so If-None-Match gets 304. A
// Compressible file is sent in the coding the Accept-Encoding header
// prefers (brotli, gzip, or none), with Vary: Accept-Encoding whatever was
// chosen. Any other path, including the unhashed names, is 404; nothing is
// read from a file system.
func (a *Assets) Handler() gin.HandlerFunc {
	return func(c *gin.Context) {
		h := c.Writer.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		if m := c.Request.Method; m != http.MethodGet && m != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			c.String(http.StatusMethodNotAllowed, "405 method not allowed\n")
			return
		}
		name, found := strings.CutPrefix(c.Request.URL.Path, assetsPrefix)
		f, ok := a.files[name]
		if !found || !ok {
			c.String(http.StatusNotFound, "404 page not found\n")
			return
		}
		f.serve(c, name)
	}
}

// Favicon serves GET and HEAD /favicon.ico: GOV.UK Frontend's icon, cached
// for a day.
func (a *Assets) Favicon(c *gin.Context) {
	c.Header("X-Content-Type-Options", "nosniff")
	a.files[favicon].serve(c, favicon)
}

// serve writes f, in the content coding the request prefers when f has
// compressed variants, answering If-None-Match with 304 by its ETag.
func (f *asset) serve(c *gin.Context, name string) {
	h := c.Writer.Header()
	h.Set("Content-Type", f.contentType)
	h.Set("Cache-Control", f.cacheControl)
	rep := f.representation
	if f.variants != nil {
		h.Set("Vary", "Accept-Encoding")
		if enc := negotiateEncoding(c.GetHeader("Accept-Encoding")); enc != "" {
			rep = f.variants[enc]
			h.Set("Content-Encoding", enc)
			// ServeContent leaves the length out once an encoding is set
			// (it expects one applied on the fly); it overwrites this for
			// a range and removes it from a 304.
			h.Set("Content-Length", strconv.Itoa(len(rep.body)))
		}
	}
	h.Set("ETag", rep.etag)
	http.ServeContent(c.Writer, c.Request, name, time.Time{}, bytes.NewReader(rep.body))
}
