package events

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"email-alert/internal/lib/jwks"
	"email-alert/subscribers"
)

// allowedAlgs are the signature algorithms a SET may use: never none, never
// HMAC (which would let anyone holding the public key sign).
var allowedAlgs = []jose.SignatureAlgorithm{jose.ES256, jose.RS256, jose.PS256}

// clockSkew is how far the account service's clock may run ahead: a SET
// whose iat or toe is later than that is refused, so that no event can
// date itself after every event still to come and freeze its account.
const clockSkew = time.Minute

// SETError is a refused Security Event Token, with its RFC 8935 error code.
type SETError struct {
	Code        string // invalid_request, invalid_key, invalid_issuer, invalid_audience
	Description string
}

func (e *SETError) Error() string { return e.Code + ": " + e.Description }

func refuse(code, format string, args ...any) *SETError {
	return &SETError{Code: code, Description: fmt.Sprintf(format, args...)}
}

// Verifier checks Security Event Tokens from the account service.
type Verifier struct {
	issuer, audience string
	keys             *jwks.KeySet
}

// NewVerifier returns a verifier of SETs issued by issuer for audience,
// signed with keys from jwksURL. The key set is cached and fetched again
// when a token names a key it does not know, at most every
// jwks.MinRefresh.
func NewVerifier(issuer, audience, jwksURL string, client *http.Client) *Verifier {
	return &Verifier{issuer: issuer, audience: audience, keys: jwks.New(jwksURL, client)}
}

// plausible reports whether t can be a SET's iat or toe: after 1970 (an
// earlier time is no event's, and PostgreSQL cannot store the earliest)
// and at most clockSkew after now.
func plausible(t jwt.NumericDate, now time.Time) bool {
	return t > 0 && !t.Time().After(now.Add(clockSkew))
}

type setClaims struct {
	Issuer   string                     `json:"iss"`
	Audience jwt.Audience               `json:"aud"`
	IssuedAt *jwt.NumericDate           `json:"iat"`
	Expiry   *jwt.NumericDate           `json:"exp"`
	ID       string                     `json:"jti"`
	Toe      *jwt.NumericDate           `json:"toe"`
	SubID    *subjectID                 `json:"sub_id"`
	Events   map[string]json.RawMessage `json:"events"`
}

type subjectID struct {
	Format string `json:"format"`
	Issuer string `json:"iss"`
	Sub    string `json:"sub"`
}

// Verify checks raw and returns the event it carries: the signature (by an
// allowed algorithm and a key of the JWKS), typ (when present), iss, aud,
// iat and toe (when present) after 1970 and at most clockSkew in the
// future, exp (when present), a jti, a sub_id in iss_sub format, at least
// one event, no NUL anywhere (PostgreSQL could not store it), and for
// identifier-changed an email address as new-value.
func (v *Verifier) Verify(ctx context.Context, raw string) (Event, *SETError) {
	parsed, err := jose.ParseSignedCompact(raw, allowedAlgs)
	if err != nil {
		if strings.Contains(err.Error(), "unexpected signature algorithm") {
			return Event{}, refuse("invalid_key", "signature algorithm is not one of ES256, RS256, PS256")
		}
		return Event{}, refuse("invalid_request", "not a signed JWT")
	}
	if len(parsed.Signatures) != 1 {
		return Event{}, refuse("invalid_request", "exactly one signature is required")
	}
	if typ, ok := parsed.Signatures[0].Header.ExtraHeaders[jose.HeaderType].(string); ok &&
		!strings.EqualFold(strings.TrimPrefix(strings.ToLower(typ), "application/"), "secevent+jwt") {
		return Event{}, refuse("invalid_request", "typ must be secevent+jwt")
	}
	payload, err := v.keys.VerifySignature(ctx, raw)
	if err != nil {
		return Event{}, refuse("invalid_key", "signature does not verify with the account service's keys")
	}
	var c setClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return Event{}, refuse("invalid_request", "claims are not valid JSON")
	}
	now := time.Now()
	switch {
	case c.Issuer != v.issuer:
		return Event{}, refuse("invalid_issuer", "iss is not the account service")
	case !c.Audience.Contains(v.audience):
		return Event{}, refuse("invalid_audience", "aud does not include this service")
	case c.IssuedAt == nil || !plausible(*c.IssuedAt, now):
		return Event{}, refuse("invalid_request", "iat is missing, before 1970 or in the future")
	case c.Toe != nil && !plausible(*c.Toe, now):
		return Event{}, refuse("invalid_request", "toe is before 1970 or in the future")
	case c.Expiry != nil && c.Expiry.Time().Before(now.Add(-clockSkew)):
		return Event{}, refuse("invalid_request", "the SET has expired")
	case c.ID == "" || len(c.ID) > 255:
		return Event{}, refuse("invalid_request", "jti is missing or too long")
	case c.SubID == nil || c.SubID.Format != "iss_sub" || c.SubID.Sub == "" || c.SubID.Issuer == "":
		return Event{}, refuse("invalid_request", "sub_id must be in iss_sub format")
	case len(c.SubID.Sub) > 255:
		return Event{}, refuse("invalid_request", "sub_id.sub is too long")
	case len(c.Events) == 0:
		return Event{}, refuse("invalid_request", "events is missing")
	case bytes.Contains(payload, []byte(`\u0000`)):
		// PostgreSQL cannot store NUL in text or jsonb: the SET could
		// never be received, so it is refused rather than retried.
		return Event{}, refuse("invalid_request", "claims contain a NUL character")
	}
	occurred := c.IssuedAt.Time()
	if c.Toe != nil {
		occurred = c.Toe.Time()
	}
	e := Event{ID: c.ID, Sub: c.SubID.Sub, OccurredAt: occurred, Kind: KindUnknown}
	switch {
	case c.Events[EventAccountPurged] != nil:
		e.Kind, e.EventType, e.Payload = KindDeleted, EventAccountPurged, json.RawMessage(`{}`)
	case c.Events[EventIdentifierChanged] != nil:
		var changed struct {
			NewValue      string `json:"new-value"`
			EmailVerified *bool  `json:"email_verified"`
		}
		if err := json.Unmarshal(c.Events[EventIdentifierChanged], &changed); err != nil || changed.NewValue == "" {
			return Event{}, refuse("invalid_request", "identifier-changed needs a new-value")
		}
		if _, ok := subscribers.NormalizeAddress(changed.NewValue); !ok {
			return Event{}, refuse("invalid_request", "identifier-changed new-value is not an email address")
		}
		// The account service sends verified emails; it may say otherwise.
		verified := changed.EmailVerified == nil || *changed.EmailVerified
		e.Kind, e.EventType = KindEmailChanged, EventIdentifierChanged
		e.Payload, _ = json.Marshal(EmailChange{Email: changed.NewValue, EmailVerified: verified})
	default:
		for typ := range c.Events {
			e.EventType = typ
			break
		}
		e.Payload = payload
	}
	return e, nil
}
