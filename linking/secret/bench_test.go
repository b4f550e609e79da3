package secret_test

import (
	"testing"

	"email-alert/linking/secret"
)

func BenchmarkNewToken(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		secret.New()
	}
}

// BenchmarkVerifyToken is the work done on a token before the database is
// asked: the shape check, then the hash that is looked up.
func BenchmarkVerifyToken(b *testing.B) {
	token, _ := secret.New()
	b.ReportAllocs()
	for b.Loop() {
		if !secret.WellFormed(token) {
			b.Fatal("a new token is not well formed")
		}
		secret.Hash(token)
	}
}
