package subscribers_test

import (
	"strings"
	"testing"
	"unicode"

	"email-alert/subscribers"
)

// FuzzNormalizeAddress: whatever comes in, an accepted address is one line
// with one @, at most 254 bytes, nothing a mail header could be split on,
// an ASCII domain with a letter in its last label, and accepting it again
// changes nothing.
func FuzzNormalizeAddress(f *testing.F) {
	for _, seed := range []string{
		"ann@example.com", " Ann.Smith+news@Example.co.uk\n", "zoë@exämple.com", "ann@example.com\r\nBcc: x@y.z",
		"\"ann\"@example.com", "Ann <ann@example.com>", "a@b", "@", "", strings.Repeat("a", 300) + "@example.com",
		"zoe@xn--exmple-cua.com", "zoe@ｅｘäｍｐｌｅ．ｃｏｍ", "ann@127.0.0.1", "ann@example.123", "ann@例え.テスト",
		"a@" + strings.Repeat("例", 60) + ".com",
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
		domain := address[strings.IndexByte(address, '@')+1:]
		last := domain[strings.LastIndexByte(domain, '.')+1:]
		if strings.IndexFunc(domain, func(r rune) bool { return r > unicode.MaxASCII }) >= 0 ||
			!strings.Contains(domain, ".") || !strings.ContainsFunc(last, unicode.IsLetter) {
			t.Fatalf("accepted %q: its domain is not an ASCII name with a letter in its last label", address)
		}
		if again, ok := subscribers.NormalizeAddress(address); !ok || again != address {
			t.Fatalf("%q is not stable: %q, %v", address, again, ok)
		}
	})
}
