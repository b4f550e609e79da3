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
		lang string
		d    time.Duration
		want string
	}{
		{"en", magiclink.ConfirmTTL, "The link will stop working after 7 days. The email may take a few minutes to arrive."},
		{"en", magiclink.ChangeAddressTTL, "The link will stop working after 24 hours."},
		{"en", 3 * 24 * time.Hour, "after 3 days."},
		{"en", 90 * time.Minute, "after 90 minutes."},
		{"cy", magiclink.ConfirmTTL, "Bydd y ddolen yn stopio gweithio ar ôl 7 diwrnod. Efallai y bydd yr e-bost yn cymryd ychydig funudau i gyrraedd."},
		{"cy", magiclink.ChangeAddressTTL, "ar ôl 24 awr."},
		{"cy", 2 * 24 * time.Hour, "ar ôl 2 ddiwrnod."},
	} {
		var buf bytes.Buffer
		err := p.views[c.lang]["check_email_confirm"].ExecuteTemplate(&buf, "layout", map[string]any{
			"Address": "ann@example.com", "Instruction": "Click the link.", "Expiry": c.d,
		})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(buf.String(), c.want) {
			t.Errorf("%s %v: page lacks %q", c.lang, c.d, c.want)
		}
	}
	err = p.views["en"]["check_email_confirm"].ExecuteTemplate(&bytes.Buffer{}, "layout", map[string]any{"Expiry": "7 days"})
	if err == nil {
		t.Error("page rendered with the lifetime as text; want an error asking for the duration")
	}
}
