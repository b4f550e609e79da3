package templates

import (
	"strings"
	"testing"
	"time"
)

func TestLifetime(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{24 * time.Hour, "24 hours"},
		{7 * 24 * time.Hour, "7 days"},
		{2 * 24 * time.Hour, "2 days"},
		{365 * 24 * time.Hour, "365 days"},
		{36 * time.Hour, "36 hours"},
		{4 * time.Hour, "4 hours"},
		{time.Hour, "1 hour"},
		{90 * time.Minute, "90 minutes"},
		{15 * time.Minute, "15 minutes"},
		{time.Minute, "1 minute"},
		{90 * time.Second, "2 minutes"}, // rounded up: never promise less than the link gives
		{30 * time.Second, "1 minute"},
	} {
		if got := Lifetime(c.d); got != c.want {
			t.Errorf("Lifetime(%v) = %q, want %q", c.d, got, c.want)
		}
	}
}

// TestLifetimeFuncWantsDuration: the template function takes only a
// duration, so words typed into the data ("Expiry": "24 hours") fail the
// render instead of drifting from the expiry.
func TestLifetimeFuncWantsDuration(t *testing.T) {
	if got, err := lifetimeFunc(7 * 24 * time.Hour); err != nil || got != "7 days" {
		t.Errorf("lifetime(7 days) = %q, %v", got, err)
	}
	if got, err := lifetimeFunc(nil); err != nil || got != "" {
		t.Errorf("lifetime(nil) = %q, %v; want nothing printed, for pages rendered without data", got, err)
	}
	if _, err := lifetimeFunc("24 hours"); err == nil || !strings.Contains(err.Error(), "time.Duration") {
		t.Errorf("lifetime(\"24 hours\") err = %v, want one asking for a time.Duration", err)
	}
}
