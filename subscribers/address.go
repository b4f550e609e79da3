package subscribers

import (
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// maxAddressLength is the longest address SMTP can carry (RFC 5321).
const maxAddressLength = 254

// domainProfile is how a domain is normalised: UTS #46 non-transitional
// mapping for lookup (case, width and compatibility forms folded, so
// "ＥＸＡＭＰＬＥ．com" is example.com), the label and bidi rules of IDNA2008,
// and DNS lengths, to the ASCII (A-label) form. Fixed here rather than
// idna.Lookup, whose options may change between versions: the stored
// addresses depend on it (migrations/00009_canonical_addresses.go).
var domainProfile = idna.New(idna.MapForLookup(), idna.Transitional(false), idna.BidiRule(), idna.VerifyDNSLength(true))

// InvalidAddress is the problem of an address NormalizeAddress refuses,
// as the APIs write it after the field name.
const InvalidAddress = "is not a valid email address"

// NormalizeAddress trims surrounding space from an email address and reports
// whether what is left is a deliverable bare address: one @, a local part
// and a domain with a dot and a letter in its last label (no IP addresses,
// no numeric top-level domain), no display name, comments, quotes, spaces,
// control or invisible format characters.
//
// The domain is normalised by IDNA (UTS #46), so that zoe@exämple.com,
// zoe@xn--exmple-cua.com and a fullwidth spelling are one subscriber and
// one rate-limit key: a domain with any non-ASCII character becomes its
// lower-case ASCII (A-label) form; an ASCII domain is checked by the same
// rules and kept as typed, as it can differ from that form only in letter
// case, which lower(address) ignores. ASCII rather than Unicode because it
// is what every mail server accepts, its lower() is the same in every
// PostgreSQL collation (the unique index is on lower(address)), and it
// shows a look-alike domain for what it is. The local part is kept as the
// person typed it and compared case-insensitively.
func NormalizeAddress(raw string) (string, bool) {
	address := strings.TrimSpace(raw)
	if address == "" || len(address) > 4*maxAddressLength || !utf8.ValidString(address) {
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
	ascii, ok := canonicalDomain(domain)
	if !ok {
		return "", false
	}
	if !isASCII(domain) {
		address = local + "@" + ascii
	}
	if len(address) > maxAddressLength {
		return "", false
	}
	return address, true
}

// canonicalDomain returns the A-label form of domain, if it is a domain
// mail can be sent to: at least two labels, the last with a letter.
func canonicalDomain(domain string) (string, bool) {
	ascii, err := domainProfile.ToASCII(domain)
	if err != nil || strings.HasSuffix(ascii, ".") {
		return "", false
	}
	labels := strings.Split(ascii, ".")
	if len(labels) < 2 {
		return "", false
	}
	for _, label := range labels {
		if label == "" || len(label) > 63 || strings.HasPrefix(label, "-") || strings.HasSuffix(label, "-") {
			return "", false
		}
		for _, r := range label {
			if r != '-' && (r < 'a' || r > 'z') && (r < '0' || r > '9') {
				return "", false
			}
		}
	}
	return ascii, strings.ContainsFunc(labels[len(labels)-1], func(r rune) bool { return r >= 'a' && r <= 'z' })
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
