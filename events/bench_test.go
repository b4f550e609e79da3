package events_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"email-alert/events"
	"email-alert/internal/testkit/settest"
)

// BenchmarkVerifySET verifies one valid identifier-changed SET signed with
// ES256. The key set is fetched by a first Verify before the timing starts,
// as it is cached between requests in the service.
func BenchmarkVerifySET(b *testing.B) {
	const iss, aud = "https://account.example/", "https://www.gov.uk"
	key, jwksURL := accountServiceKeys(b)
	now := time.Now().Unix()
	raw := settest.Sign(b, map[string]any{
		"iss": iss, "aud": aud, "iat": now, "toe": now, "jti": "bench-1",
		"sub_id": map[string]any{"format": "iss_sub", "iss": iss, "sub": "urn:fdc:gov.uk:2022:bench"},
		"events": map[string]any{events.EventIdentifierChanged: map[string]any{"new-value": "ann@example.com"}},
	}, jose.ES256, key, "k1", settest.Type)
	v := events.NewVerifier(iss, aud, jwksURL, http.DefaultClient)
	ctx := context.Background()
	if e, setErr := v.Verify(ctx, raw); setErr != nil || e.Kind != events.KindEmailChanged {
		b.Fatalf("Verify = %+v, %v; want an email_changed event", e, setErr)
	}

	b.ReportAllocs()
	for b.Loop() {
		if _, setErr := v.Verify(ctx, raw); setErr != nil {
			b.Fatal(setErr)
		}
	}
}
