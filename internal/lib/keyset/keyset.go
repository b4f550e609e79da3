// Package keyset walks a query's rows in pages, each page starting after
// the last row of the one before (keyset pagination: the page query reads
// its cursor from that row, so a page costs one index range scan however
// far the walk has gone). It is the shape of every sweep that re-enqueues
// rows a queue may have lost.
package keyset

import "context"

// PageSize is the most rows one page reads.
const PageSize = 1000

// Walk reads pages of rows with page and hands each row to visit, in
// order, until a page comes back short; it returns how many rows it
// handed over. page gets the last row of the previous page (the zero R
// before the first) and the most rows to return. With limit > 0 Walk hands
// over at most limit rows. It stops at the first error of page or visit.
func Walk[R any](ctx context.Context, limit int,
	page func(ctx context.Context, after R, size int) ([]R, error),
	visit func(ctx context.Context, row R) error,
) (int, error) {
	var (
		after R
		total int
	)
	for limit <= 0 || total < limit {
		size := PageSize
		if limit > 0 {
			size = min(size, limit-total)
		}
		rows, err := page(ctx, after, size)
		if err != nil {
			return total, err
		}
		for _, r := range rows {
			if err := visit(ctx, r); err != nil {
				return total, err
			}
		}
		total += len(rows)
		if len(rows) < size {
			break
		}
		after = rows[len(rows)-1]
	}
	return total, nil
}
