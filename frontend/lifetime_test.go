package frontend

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"email-alert/linking"
	"email-alert/linking/magiclink"
	"email-alert/templates"
)

// TestCheckEmailLinkLifetime: the "check your email" page says how long the
// link works from the duration the handler passes (the TTL that set the
// token's expiry), so other durations give other words and a lifetime
// typed back into the page fails here.
func TestCheckEmailLinkLifetime(t *testing.T) {
	assets, _ := newTestAssets(t)
	p, err := New(Config{}, nil, &linking.Service{}, nil, nil, nil, templates.Pages, assets)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{magiclink.ConfirmTTL, "7 days"},
		{magiclink.ChangeAddressTTL, "24 hours"},
		{3 * 24 * time.Hour, "3 days"},
		{90 * time.Minute, "90 minutes"},
	} {
		var buf bytes.Buffer
		err := p.views["check_email_confirm"].ExecuteTemplate(&buf, "layout", map[string]any{
			"Address": "ann@example.com", "Instruction": "Click the link.", "Expiry": c.d,
		})
		if err != nil {
			t.Fatal(err)
		}
		want := "The link will stop working after " + c.want + ". The email may take a few minutes to arrive."
		if !strings.Contains(buf.String(), want) {
			t.Errorf("%v: page lacks %q", c.d, want)
		}
	}
	err = p.views["check_email_confirm"].ExecuteTemplate(&bytes.Buffer{}, "layout", map[string]any{"Expiry": "7 days"})
	if err == nil {
		t.Error("page rendered with the lifetime as text; want an error asking for the duration")
	}
}
