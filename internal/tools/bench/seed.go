package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
)

// seedSizes are the rows a benchmark database gets.
type seedSizes struct {
	Subscribers, Lists, PerSubscriber, Linked int
}

// seed fills a migrated database with COPY: lists, subscribers (the first
// Linked of them linked to accounts urn:bench:<id>), and PerSubscriber
// subscriptions each to distinct random lists. It prints its progress and
// returns how long it took.
func seed(ctx context.Context, db *sqlx.DB, n seedSizes, label string) (time.Duration, error) {
	start := time.Now()
	rng := rand.New(rand.NewPCG(1, 2))
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer func() { _ = tx.Rollback() }()

	copyRows := func(table string, columns []string, rows int, row func(i int) []any) error {
		stmt, err := tx.PrepareContext(ctx, fmt.Sprintf("COPY %s (%s) FROM STDIN", table, strings.Join(columns, ", ")))
		if err != nil {
			return fmt.Errorf("copy %s: %w", table, err)
		}
		step := max(rows/20, 1)
		for i := 1; i <= rows; i++ {
			if _, err := stmt.ExecContext(ctx, row(i)...); err != nil {
				return fmt.Errorf("copy %s: %w", table, err)
			}
			if i%step == 0 || i == rows {
				fmt.Fprintf(os.Stderr, "\r  %s: %-13s %3d%% %s", label, table, i*100/rows, bar(i, rows))
			}
		}
		if _, err := stmt.ExecContext(ctx); err != nil {
			return fmt.Errorf("copy %s: %w", table, err)
		}
		fmt.Fprintln(os.Stderr)
		return stmt.Close()
	}

	err = copyRows("subscriber_lists", []string{"id", "slug", "title", "url", "description"}, n.Lists, func(i int) []any {
		return []any{i, fmt.Sprintf("bench-list-%d", i), fmt.Sprintf("Benchmark list %d", i), fmt.Sprintf("/bench/%d", i), ""}
	})
	if err != nil {
		return 0, err
	}
	err = copyRows("subscribers", []string{"id", "address", "govuk_account_id", "linked_at"}, n.Subscribers, func(i int) []any {
		if i <= n.Linked {
			return []any{i, address(i), fmt.Sprintf("urn:bench:%d", i), time.Now()}
		}
		return []any{i, address(i), nil, nil}
	})
	if err != nil {
		return 0, err
	}
	frequencies := []string{"immediately", "daily", "weekly"}
	total := n.Subscribers * n.PerSubscriber
	picked := make([]int, 0, n.PerSubscriber)
	err = copyRows("subscriptions", []string{"subscriber_id", "subscriber_list_id", "frequency", "source"}, total, func(i int) []any {
		subscriber := (i-1)/n.PerSubscriber + 1
		if (i-1)%n.PerSubscriber == 0 {
			picked = picked[:0]
		}
		list := 1 + rng.IntN(n.Lists)
		for contains(picked, list) {
			list = 1 + rng.IntN(n.Lists)
		}
		picked = append(picked, list)
		return []any{subscriber, list, frequencies[rng.IntN(3)], "user_signed_up"}
	})
	if err != nil {
		return 0, err
	}
	for _, q := range []string{
		`SELECT setval(pg_get_serial_sequence('subscribers', 'id'), (SELECT max(id) FROM subscribers))`,
		`SELECT setval(pg_get_serial_sequence('subscriber_lists', 'id'), (SELECT max(id) FROM subscriber_lists))`,
	} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return 0, err
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	// ANALYZE for real plans; CHECKPOINT so the seeding's writes are not
	// flushed during (and charged to) the measurements that follow. (A
	// VACUUM here as well made no difference to the read at 1,000,000
	// subscribers: BENCHMARKS.notes.md, tried and dropped.)
	for _, q := range []string{`ANALYZE`, `CHECKPOINT`} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return 0, fmt.Errorf("%s: %w", q, err)
		}
	}
	return time.Since(start), nil
}

func address(id int) string { return fmt.Sprintf("user%d@bench.example", id) }

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func bar(done, total int) string {
	const width = 30
	filled := done * width / total
	b := make([]byte, width)
	for i := range b {
		if i < filled {
			b[i] = '#'
		} else {
			b[i] = '.'
		}
	}
	return "[" + string(b) + "]"
}
