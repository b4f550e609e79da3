package linking

import "testing"

func BenchmarkNewToken(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		newToken()
	}
}

// BenchmarkVerifyToken is the work done on a token before the database is
// asked: the shape check, then the hash that is looked up.
func BenchmarkVerifyToken(b *testing.B) {
	token, _ := newToken()
	b.ReportAllocs()
	for b.Loop() {
		if !wellFormed(token) {
			b.Fatal("a new token is not well formed")
		}
		hashToken(token)
	}
}
