package frontend

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
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
	cacheDay       = "public, max-age=86400"
)

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
	body         []byte
	etag         string
	contentType  string
	cacheControl string
}

// NewAssets reads every file of fsys at start. fsys is rooted so that
// "govuk-frontend/govuk-frontend.min.css", "govuk-frontend/assets/fonts/…"
// and "init.js" are paths in it. The import URL placeholder in init.js is
// replaced by the hashed URL of govuk-frontend.min.js, and init.js is
// hashed as served.
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
		if err := a.add(strings.TrimPrefix(url, assetsPrefix), body, cacheImmutable); err != nil {
			return nil, err
		}
		if fixed, ok := strings.CutPrefix(name, govukAssetsDir); ok {
			cache := cacheDay
			if versioned.MatchString(path.Base(fixed)) {
				cache = cacheImmutable
			}
			if err := a.add(fixed, body, cache); err != nil {
				return nil, err
			}
		}
	}
	if a.files[favicon] == nil {
		return nil, fmt.Errorf("assets: no %s%s", govukAssetsDir, favicon)
	}
	return a, nil
}

// add serves body at /assets/name.
func (a *Assets) add(name string, body []byte, cacheControl string) error {
	if _, ok := a.files[name]; ok {
		return fmt.Errorf("assets: two files served at %s%s", assetsPrefix, name)
	}
	a.files[name] = &asset{
		body:         body,
		etag:         `"` + contentHash(body) + `"`,
		contentType:  assetTypes[path.Ext(name)],
		cacheControl: cacheControl,
	}
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
// URLs are cached for a year, the fixed URLs of govuk-frontend's files for a
// day (for a year when their names carry a hash of their own). The ETag is
// the content hash, so If-None-Match gets 304. Any other path, including
// the unhashed names, is 404; nothing is read from a file system.
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

// serve writes f, answering If-None-Match with 304 by its ETag.
func (f *asset) serve(c *gin.Context, name string) {
	h := c.Writer.Header()
	h.Set("Content-Type", f.contentType)
	h.Set("Cache-Control", f.cacheControl)
	h.Set("ETag", f.etag)
	http.ServeContent(c.Writer, c.Request, name, time.Time{}, bytes.NewReader(f.body))
}
