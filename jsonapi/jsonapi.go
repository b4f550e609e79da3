// Package jsonapi holds what every JSON endpoint shares: the error body
// ({"error": …, "details": {field: [messages]}}), request decoding with a
// size limit, and bearer-token authentication. Handlers in the domain
// packages use it so that every endpoint fails the same way.
package jsonapi

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
)

// MaxBodyBytes is the largest request body any endpoint accepts.
const MaxBodyBytes = 1 << 20

// Details maps a request field to what is wrong with it.
type Details map[string][]string

// ErrorBody is the JSON body of every error response.
type ErrorBody struct {
	Error   string  `json:"error"`
	Details Details `json:"details,omitempty"`
}

// Abort ends the request with status and the standard error body.
func Abort(c *gin.Context, status int, message string, details Details) {
	c.AbortWithStatusJSON(status, ErrorBody{Error: message, Details: details})
}

// RequestError is a client error found while decoding a request: it carries
// the status to answer with.
type RequestError struct {
	Status  int
	Message string
	Details Details
}

func (e *RequestError) Error() string { return e.Message }

// Decode reads the request body as one JSON object into v. It answers the
// request itself and returns false when the body is too large (413), of
// another Content-Type (415), not UTF-8, not a JSON object or of the wrong
// shape (400); the handler then just returns.
func Decode(c *gin.Context, v any) bool {
	if err := decode(c.Writer, c.Request, v); err != nil {
		var re *RequestError
		if errors.As(err, &re) {
			Abort(c, re.Status, re.Message, re.Details)
		} else {
			Abort(c, http.StatusBadRequest, "Request body could not be read", nil)
		}
		return false
	}
	return true
}

func decode(w http.ResponseWriter, r *http.Request, v any) error {
	if r.ContentLength > MaxBodyBytes {
		return tooLarge()
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && !isJSON(ct) {
		return &RequestError{Status: http.StatusUnsupportedMediaType, Message: "Content-Type must be application/json"}
	}
	// Read whole (at most 1 MiB), to check what encoding/json lets through:
	// it would replace invalid UTF-8 with U+FFFD, and take null for {}.
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	var maxErr *http.MaxBytesError
	switch {
	case errors.As(err, &maxErr):
		return tooLarge()
	case err != nil:
		return &RequestError{Status: http.StatusBadRequest, Message: "Request body could not be read"}
	case !utf8.Valid(data):
		return &RequestError{Status: http.StatusBadRequest, Message: "Request body is not valid UTF-8"}
	case !bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), []byte("{")):
		return &RequestError{Status: http.StatusBadRequest, Message: "Request body must be a JSON object"}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	err = dec.Decode(v)
	if err == nil {
		// Exactly one JSON value: trailing data is malformed input.
		if _, extra := dec.Token(); extra != io.EOF {
			err = errors.New("unexpected data after the JSON object")
		}
	}
	if err == nil {
		return nil
	}
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &typeErr) && typeErr.Field != "":
		return &RequestError{
			Status:  http.StatusBadRequest,
			Message: "Request body has a field of the wrong type",
			Details: Details{typeErr.Field: {fmt.Sprintf("must be %s", jsonKind(typeErr.Type.Kind().String()))}},
		}
	default:
		return &RequestError{Status: http.StatusBadRequest, Message: "Request body is not valid JSON"}
	}
}

func tooLarge() error {
	return &RequestError{Status: http.StatusRequestEntityTooLarge, Message: "Request body is larger than 1 MiB"}
}

func isJSON(contentType string) bool {
	mediaType, _, _ := strings.Cut(contentType, ";")
	mediaType = strings.ToLower(strings.TrimSpace(mediaType))
	return mediaType == "application/json" || strings.HasSuffix(mediaType, "+json")
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "int", "int64", "int32", "uint", "uint64", "float64":
		return "a number"
	case "slice":
		return "an array"
	default:
		return "an object"
	}
}

// clientKey is the gin context key under which BearerAuth leaves the
// fingerprint of the token that matched.
const clientKey = "jsonapi.client"

// BearerAuth admits requests whose Authorization header carries one of
// tokens, and answers 401 otherwise. Tokens are compared in constant time.
// The fingerprint of the token that matched is left for Client.
func BearerAuth(tokens []string) gin.HandlerFunc {
	sums := make([][sha256.Size]byte, len(tokens))
	for i, t := range tokens {
		sums[i] = sha256.Sum256([]byte(t))
	}
	return func(c *gin.Context) {
		scheme, token, ok := strings.Cut(c.GetHeader("Authorization"), " ")
		if ok && strings.EqualFold(scheme, "Bearer") && token != "" {
			// Hashing first makes every comparison the same length, so
			// neither the token's length nor its prefix leaks through timing.
			got := sha256.Sum256([]byte(token))
			match, matched := 0, 0
			for i := range sums {
				eq := subtle.ConstantTimeCompare(got[:], sums[i][:])
				match |= eq
				matched = subtle.ConstantTimeSelect(eq, i, matched)
			}
			if match == 1 {
				c.Set(clientKey, Fingerprint(sums[matched]))
				c.Next()
				return
			}
		}
		c.Header("WWW-Authenticate", `Bearer realm="email-alert"`)
		Abort(c, http.StatusUnauthorized, "Missing or invalid bearer token", nil)
	}
}

// Fingerprint names the API client holding the token whose SHA-256 is
// sum: the first 8 hex digits of the hash. It identifies the client in
// logs and the audit trail without revealing anything usable as the token.
func Fingerprint(sum [sha256.Size]byte) string {
	return hex.EncodeToString(sum[:4])
}

// Client returns the fingerprint of the bearer token that BearerAuth
// admitted the request with, or "" on a route without BearerAuth.
func Client(c *gin.Context) string {
	return c.GetString(clientKey)
}

// NotFound answers unknown routes with a JSON 404.
func NotFound(c *gin.Context) {
	Abort(c, http.StatusNotFound, "Not found", nil)
}

// MethodNotAllowed answers a known path called with the wrong method.
func MethodNotAllowed(c *gin.Context) {
	Abort(c, http.StatusMethodNotAllowed, "Method not allowed", nil)
}
