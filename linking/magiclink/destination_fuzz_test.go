package magiclink_test

import (
	"net/url"
	"strings"
	"testing"

	"email-alert/linking/magiclink"
)

// FuzzCheckDestination: an accepted destination always stays on this
// site, however a browser might read it.
func FuzzCheckDestination(f *testing.F) {
	for _, seed := range []string{
		"/email/manage", "//evil.example", "/\\evil.example", "http://evil.example", "/%2F%2Fevil.example",
		"/\t/evil.example", "/a?b=c#d", "javascript:alert(1)", "", "/",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, destination string) {
		if magiclink.CheckDestination(destination) != nil {
			return
		}
		if !strings.HasPrefix(destination, "/") || strings.HasPrefix(destination, "//") || strings.ContainsAny(destination, "\\\t\r\n") {
			t.Fatalf("accepted %q", destination)
		}
		u, err := url.Parse(destination)
		if err != nil || u.Host != "" || u.Scheme != "" {
			t.Fatalf("accepted %q, which parses to host %q scheme %q (%v)", destination, u.Host, u.Scheme, err)
		}
		// Resolved against our origin, it must stay there.
		base, _ := url.Parse("https://www.gov.uk/email/")
		if resolved := base.ResolveReference(u); resolved.Host != "www.gov.uk" {
			t.Fatalf("%q resolves to %s", destination, resolved)
		}
	})
}
