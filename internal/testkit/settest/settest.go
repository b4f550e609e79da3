// Package settest signs Security Event Tokens (RFC 8417) for the tests
// of the account-event intake, as the account service would.
package settest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/uuid"
)

// Type is the typ header of a SET (RFC 8417 section 2.3).
const Type = "secevent+jwt"

// Claims returns the claims of a SET from iss to aud about the account sub,
// carrying one event with its payload (nil for none), issued now with a
// random jti. changes then replace claims, or remove those they map to nil.
func Claims(iss, aud, sub, event string, payload, changes map[string]any) map[string]any {
	if payload == nil {
		payload = map[string]any{}
	}
	now := time.Now().Unix()
	c := map[string]any{
		"iss": iss, "aud": aud, "iat": now, "toe": now, "jti": uuid.NewString(),
		"sub_id": map[string]any{"format": "iss_sub", "iss": iss, "sub": sub},
		"events": map[string]any{event: payload},
	}
	for k, v := range changes {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

// Sign returns claims, as JSON, signed with key by alg in a compact JWS
// carrying the kid header, and the typ header unless typ is empty. It
// reports a failure with tb.Errorf and returns "", so goroutines may call
// it too.
func Sign(tb testing.TB, claims any, alg jose.SignatureAlgorithm, key any, kid, typ string) string {
	tb.Helper()
	opts := (&jose.SignerOptions{}).WithHeader("kid", kid)
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		tb.Errorf("signer for %s: %v", alg, err)
		return ""
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		tb.Errorf("claims: %v", err)
		return ""
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		tb.Errorf("sign: %v", err)
		return ""
	}
	raw, err := jws.CompactSerialize()
	if err != nil {
		tb.Errorf("serialise: %v", err)
		return ""
	}
	return raw
}
