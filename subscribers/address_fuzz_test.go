package subscribers_test

import (
	"strings"
	"testing"
	"unicode"

	"email-alert/subscribers"
)

// FuzzNormalizeAddress: whatever comes in, an accepted address is one line
// with one @, at most 254 bytes, nothing a mail header could be split on,
// and accepting it again changes nothing.
func FuzzNormalizeAddress(f *testing.F) {
	for _, seed := range []string{
		"ann@example.com", " Ann.Smith+news@Example.co.uk\n", "zoë@exämple.com", "ann@example.com\r\nBcc: x@y.z",
		"\"ann\"@example.com", "Ann <ann@example.com>", "a@b", "@", "", strings.Repeat("a", 300) + "@example.com",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		address, ok := subscribers.NormalizeAddress(raw)
		if !ok {
			if address != "" {
				t.Fatalf("rejected %q but returned %q", raw, address)
			}
			return
		}
		if len(address) > 254 || strings.Count(address, "@") != 1 {
			t.Fatalf("accepted %q as %q", raw, address)
		}
		for _, r := range address {
			if unicode.IsSpace(r) || unicode.IsControl(r) || strings.ContainsRune("<>,;:\"", r) {
				t.Fatalf("accepted %q with %q in it", address, r)
			}
		}
		if again, ok := subscribers.NormalizeAddress(address); !ok || again != address {
			t.Fatalf("%q is not stable: %q, %v", address, again, ok)
		}
	})
}
