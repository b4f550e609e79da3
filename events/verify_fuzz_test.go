package events_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"email-alert/events"
	"email-alert/internal/testkit/settest"
)

// FuzzVerifySET: any body is either a valid SET or refused with one of
// RFC 8935's codes; nothing panics.
func FuzzVerifySET(f *testing.F) {
	key, jwksURL := accountServiceKeys(f)
	v := events.NewVerifier(issuer, audience, jwksURL, http.DefaultClient)

	for _, claims := range []map[string]any{
		set("urn:fdc:gov.uk:2022:a", events.EventAccountPurged, nil, nil),
		set("urn:fdc:gov.uk:2022:a", events.EventIdentifierChanged, map[string]any{"new-value": "a@b.c"}, nil),
		set("urn:fdc:gov.uk:2022:a", events.EventIdentifierChanged, map[string]any{"new-value": 5}, nil),
		set("urn:fdc:gov.uk:2022:a", events.EventAccountPurged, nil, map[string]any{"sub_id": "x"}),
	} {
		f.Add(settest.Sign(f, claims, jose.ES256, key, "k1", settest.Type))
	}
	f.Add("e30.e30.")
	f.Add("not a jwt")
	codes := map[string]bool{"invalid_request": true, "invalid_key": true, "invalid_issuer": true, "invalid_audience": true}
	f.Fuzz(func(t *testing.T, raw string) {
		e, refused := v.Verify(context.Background(), raw)
		if refused != nil {
			if !codes[refused.Code] || refused.Description == "" {
				t.Fatalf("refusal %+v", refused)
			}
			return
		}
		if e.ID == "" || e.Sub == "" || e.OccurredAt.IsZero() || e.Kind == "" {
			t.Fatalf("accepted an incomplete event %+v", e)
		}
	})
}
