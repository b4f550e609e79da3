package subscribers

import (
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxAddressLength is the longest address SMTP can carry (RFC 5321).
const maxAddressLength = 254

// NormalizeAddress trims surrounding space from an email address and reports
// whether what is left is a deliverable bare address: one @, a local part
// and a domain with a dot, no display name, comments, quotes, spaces,
// control or invisible format characters. Only the surrounding space is
// changed: the address is kept as the person typed it and compared
// case-insensitively.
func NormalizeAddress(raw string) (string, bool) {
	address := strings.TrimSpace(raw)
	if address == "" || len(address) > maxAddressLength || !utf8.ValidString(address) {
		return "", false
	}
	for _, r := range address {
		// Format characters (bidi overrides, zero-width spaces) are
		// invisible: they would make look-alikes of real addresses.
		if unicode.IsSpace(r) || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || strings.ContainsRune(`"(),:;<>[\]`, r) {
			return "", false
		}
	}
	parsed, err := mail.ParseAddress(address)
	if err != nil || parsed.Name != "" || parsed.Address != address {
		return "", false
	}
	local, domain, ok := strings.Cut(address, "@")
	if !ok || local == "" || len(local) > 64 || strings.Contains(domain, "@") {
		return "", false
	}
	if !validDomain(domain) {
		return "", false
	}
	return address, true
}

func validDomain(domain string) bool {
	labels := strings.Split(domain, ".")
	if len(labels) < 2 {
		return false
	}
	for _, label := range labels {
		if label == "" || len(label) > 63 || strings.HasPrefix(label, "-") || strings.HasSuffix(label, "-") {
			return false
		}
		for _, r := range label {
			if r != '-' && !unicode.IsLetter(r) && !unicode.IsDigit(r) {
				return false
			}
		}
	}
	return true
}
