package subscribers

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"
)

// awkwardStrings are strings encoding/json escapes in each of its ways.
var awkwardStrings = []string{
	"", "plain", "user@example.com", "/bench/44", "a<b", "b>a", "a&b", `quote"`, `back\slash`,
	"\x00\x01\x1f\t\n\r", "é, 中文, 😀", "line\u2028para\u2029", "bad \xff\xfe utf-8", "\x7f del",
}

func randomString(r *rand.Rand) string { return awkwardStrings[r.IntN(len(awkwardStrings))] }

func randomStringPtr(r *rand.Rand) *string {
	if r.IntN(3) == 0 {
		return nil
	}
	s := randomString(r)
	return &s
}

func randomTime(r *rand.Rand) time.Time {
	zones := []*time.Location{time.UTC, time.FixedZone("", 3600), time.FixedZone("", -(5*3600 + 1800)), time.Local}
	t := time.Unix(r.Int64N(4_000_000_000), 0).In(zones[r.IntN(len(zones))])
	switch r.IntN(4) {
	case 0: // whole seconds
	case 1:
		t = t.Add(time.Duration(r.IntN(1_000_000)) * time.Microsecond) // as PostgreSQL keeps them
	case 2:
		t = t.Add(120 * time.Millisecond) // trailing zeros
	default:
		t = t.Add(time.Duration(r.IntN(1_000_000_000)))
	}
	return t
}

func randomSubscriber(r *rand.Rand) Subscriber {
	return Subscriber{
		ID: r.Int64(), Address: randomStringPtr(r), GovukAccountID: randomStringPtr(r), Locale: []string{"en", "cy"}[r.IntN(2)],
		CreatedAt: randomTime(r), UpdatedAt: randomTime(r),
	}
}

func randomSubscription(r *rand.Rand) Subscription {
	s := Subscription{
		ID: uuid.New(), Frequency: Frequency(randomString(r)), Source: randomString(r),
		CreatedAt: randomTime(r), UpdatedAt: randomTime(r), EndedReason: randomStringPtr(r),
		List: ListWithCriteria{List: List{
			ID: r.Int64(), Slug: randomString(r), Title: randomString(r), URL: randomStringPtr(r),
			Description: randomString(r), CreatedAt: randomTime(r), UpdatedAt: randomTime(r),
		}, Criteria: randomCriteria(r)},
		Subscriber: randomSubscriber(r),
	}
	if r.IntN(2) == 0 {
		ended := randomTime(r)
		s.EndedAt = &ended
	}
	return s
}

func randomRules(r *rand.Rand) Rules {
	if r.IntN(4) == 0 {
		return nil
	}
	rules := Rules{}
	for range r.IntN(4) {
		rule := Rule{Operator: []string{OperatorAny, OperatorAll, randomString(r)}[r.IntN(3)]}
		if r.IntN(5) > 0 {
			rule.Values = []string{}
			for range r.IntN(4) {
				rule.Values = append(rule.Values, randomString(r))
			}
		}
		rules[randomString(r)] = rule
	}
	return rules
}

func randomCriteria(r *rand.Rand) Criteria {
	c := Criteria{
		Tags: randomRules(r), Links: randomRules(r), DocumentType: randomString(r),
		EmailDocumentSupertype: randomString(r), GovernmentDocumentSupertype: randomString(r),
	}
	if r.IntN(2) == 0 {
		id := uuid.New()
		c.ContentID = &id
	}
	return c
}

func TestAppendJSONIsMarshal(t *testing.T) {
	// A field added to one of these types must be added to its appender
	// too (and to the random values above).
	for typ, fields := range map[reflect.Type]int{
		reflect.TypeFor[Subscriber](): 7, reflect.TypeFor[Subscription](): 9, reflect.TypeFor[List](): 7,
		reflect.TypeFor[ListWithCriteria](): 2, reflect.TypeFor[Criteria](): 6, reflect.TypeFor[Rule](): 2,
	} {
		if typ.NumField() != fields {
			t.Errorf("%s has %d fields, its appendJSON was written for %d", typ, typ.NumField(), fields)
		}
	}

	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		subscriber := randomSubscriber(r)
		var subs []Subscription
		for range r.IntN(4) {
			subs = append(subs, randomSubscription(r))
		}
		wantSubs := subs
		if wantSubs == nil {
			wantSubs = []Subscription{}
		}
		want, err := json.Marshal(map[string]any{"subscriber": subscriber, "subscriptions": wantSubs})
		if err != nil {
			t.Fatal(err)
		}
		if got := appendSubscriptionsJSON(nil, &subscriber, subs); !bytes.Equal(got, want) {
			t.Fatalf("appendSubscriptionsJSON:\n got %s\nwant %s", got, want)
		}
	}
}

// BenchmarkSubscriptionsJSON encodes the read's answer for a subscriber
// with three subscriptions, as make bench seeds them.
func BenchmarkSubscriptionsJSON(b *testing.B) {
	address, account, url := "user777@bench.example", "urn:bench:777", "/bench/44"
	now := time.Date(2026, 11, 22, 0, 17, 0, 525542000, time.UTC)
	subscriber := Subscriber{ID: 777, Address: &address, GovukAccountID: &account, CreatedAt: now, UpdatedAt: now}
	subs := make([]Subscription, 3)
	for i := range subs {
		subs[i] = Subscription{
			ID: uuid.New(), Frequency: Daily, Source: SourceUserSignedUp, CreatedAt: now, UpdatedAt: now,
			List: ListWithCriteria{
				List:     List{ID: 44, Slug: "bench-list-44", Title: "Benchmark list 44", URL: &url, CreatedAt: now, UpdatedAt: now},
				Criteria: Criteria{Tags: Rules{"topics": {Operator: OperatorAny, Values: []string{"bench-44"}}}, Links: Rules{}},
			},
			Subscriber: subscriber,
		}
	}
	b.Run("encoding/json", func(b *testing.B) {
		for b.Loop() {
			if _, err := json.Marshal(map[string]any{"subscriber": subscriber, "subscriptions": subs}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("append", func(b *testing.B) {
		buf := make([]byte, 0, 4<<10)
		for b.Loop() {
			buf = appendSubscriptionsJSON(buf[:0], &subscriber, subs)
		}
	})
}
