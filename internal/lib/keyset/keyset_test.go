package keyset_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"email-alert/internal/lib/keyset"
)

// rows pages over 1..n as a keyset query would: after the cursor row.
func rows(n int, calls *[]int) func(context.Context, int, int) ([]int, error) {
	return func(_ context.Context, after, size int) ([]int, error) {
		*calls = append(*calls, after)
		var page []int
		for r := after + 1; r <= n && len(page) < size; r++ {
			page = append(page, r)
		}
		return page, nil
	}
}

func TestWalk(t *testing.T) {
	for _, tc := range []struct {
		name      string
		rows      int
		limit     int
		wantTotal int
		wantAfter []int // the cursor of each page read
	}{
		{name: "empty", rows: 0, wantTotal: 0, wantAfter: []int{0}},
		{name: "short page", rows: 5, wantTotal: 5, wantAfter: []int{0}},
		{name: "exactly a page reads one more", rows: keyset.PageSize, wantTotal: keyset.PageSize, wantAfter: []int{0, keyset.PageSize}},
		{name: "pages", rows: 2500, wantTotal: 2500, wantAfter: []int{0, 1000, 2000}},
		{name: "limit below a page", rows: 2500, limit: 10, wantTotal: 10, wantAfter: []int{0}},
		{name: "limit over pages", rows: 2500, limit: 1500, wantTotal: 1500, wantAfter: []int{0, 1000}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls, seen []int
			total, err := keyset.Walk(context.Background(), tc.limit, rows(tc.rows, &calls),
				func(_ context.Context, r int) error { seen = append(seen, r); return nil })
			if err != nil || total != tc.wantTotal || len(seen) != tc.wantTotal {
				t.Fatalf("Walk = %d, %v (visited %d); want %d", total, err, len(seen), tc.wantTotal)
			}
			for i, r := range seen {
				if r != i+1 {
					t.Fatalf("row %d visited as %d", i+1, r)
				}
			}
			if diff := cmp.Diff(tc.wantAfter, calls); diff != "" {
				t.Errorf("page cursors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWalkStopsAtVisitError(t *testing.T) {
	var calls []int
	failed := errors.New("enqueue failed")
	total, err := keyset.Walk(context.Background(), 0, rows(2500, &calls), func(_ context.Context, r int) error {
		if r == 1500 {
			return failed
		}
		return nil
	})
	if !errors.Is(err, failed) || total != 1000 {
		t.Errorf("Walk = %d, %v; want 1000 (the pages wholly handed over), %v", total, err, failed)
	}
}
