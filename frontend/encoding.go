package frontend

import (
	"strconv"
	"strings"
)

// negotiateEncoding returns the Content-Encoding of Encodings that the
// Accept-Encoding header accept prefers (RFC 9110, section 12.5.3), or ""
// for none: the coding of the highest q-value, a coding not named taking
// the q of "*", identity 1 unless named. Ties go to a compressed coding, and
// among those to the first of Encodings. A coding with q=0 is never chosen.
func negotiateEncoding(accept string) string {
	if accept == "" {
		return ""
	}
	weights := map[string]float64{}
	for _, item := range strings.Split(accept, ",") {
		coding, params, _ := strings.Cut(item, ";")
		coding = strings.ToLower(strings.TrimSpace(coding))
		if coding == "x-gzip" {
			coding = "gzip"
		}
		q, ok := qValue(params)
		if coding == "" || !ok {
			continue
		}
		weights[coding] = q
	}
	weight := func(coding string, unnamed float64) float64 {
		if q, ok := weights[coding]; ok {
			return q
		}
		if q, ok := weights["*"]; ok {
			return q
		}
		return unnamed
	}
	best, bestQ := "", 0.0
	for _, enc := range Encodings {
		if q := weight(enc.Name, 0); q > bestQ {
			best, bestQ = enc.Name, q
		}
	}
	if bestQ < weight("identity", 1) {
		return ""
	}
	return best
}

// qValue reads the weight from the parameters after a coding ("q=0.5"):
// 1 when absent, and ok false when malformed, so the coding is ignored.
func qValue(params string) (q float64, ok bool) {
	q = 1
	for _, p := range strings.Split(params, ";") {
		name, value, found := strings.Cut(strings.TrimSpace(p), "=")
		if !found || !strings.EqualFold(strings.TrimSpace(name), "q") {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil || v < 0 || v > 1 {
			return 0, false
		}
		q = v
	}
	return q, true
}
