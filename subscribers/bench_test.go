package subscribers_test

import (
	"strings"
	"testing"

	"email-alert/subscribers"
)

func BenchmarkNormalizeAddress(b *testing.B) {
	for _, bc := range []struct {
		name, address string
		valid         bool
	}{
		{"plain", "ann@example.com", true},
		{"spaced and tagged", "  Ann.Smith+news@Example.co.uk \n", true},
		{"unicode", "zoë@exämple.com", true},
		{"no domain dot", "ann@localhost", false},
		{"display name", "Ann <ann@example.com>", false},
		{"header injection", "ann@example.com\r\nBcc: eve@example.com", false},
		{"too long", strings.Repeat("a", 250) + "@example.com", false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			if _, ok := subscribers.NormalizeAddress(bc.address); ok != bc.valid {
				b.Fatalf("NormalizeAddress(%q) valid = %v, want %v", bc.address, ok, bc.valid)
			}
			b.ReportAllocs()
			for b.Loop() {
				subscribers.NormalizeAddress(bc.address)
			}
		})
	}
}
