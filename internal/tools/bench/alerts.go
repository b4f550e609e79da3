package main

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"runtime/debug"
	"strings"
	"time"

	"github.com/google/uuid"

	"email-alert/alerts"
	"email-alert/linking/magiclink"
	"email-alert/mail"
	"email-alert/templates"
)

// alertsBench measures the alert workloads against n subscribers: one
// content change fanned out to n immediate subscribers of one list, and a
// daily digest run for n daily subscribers of another, each beside its
// ceiling measured in the same run: PostgreSQL doing one INSERT … SELECT
// of n rows of the same shape into a copy of the outbox with the same
// indexes. It returns the report's section.
func alertsBench(ctx context.Context, n int) (string, error) {
	const name = "email_alert_bench_alerts"
	step(fmt.Sprintf("alerts: seeding %d immediate and %d daily subscribers", n, n))
	db, err := freshDB(ctx, name)
	if err != nil {
		return "", err
	}
	defer db.Close()
	seed := `
		INSERT INTO subscriber_lists (id, slug, title, tags, criteria_digest, match_keys) VALUES
			(1, 'now', 'Now', '{"topics":{"any":["vat"]}}', '\x01', '{tags/topics/vat}'),
			(2, 'daily', 'Daily', '{}', '\x02', '{links/organisations/hmrc}');
		UPDATE subscriber_lists SET links = '{"organisations":{"any":["hmrc"]}}' WHERE id = 2;
		INSERT INTO subscribers (id, address) SELECT i, 'user' || i || '@bench.example' FROM generate_series(1, $1 * 2) i;
		INSERT INTO subscriptions (subscriber_id, subscriber_list_id, frequency, source, created_at)
		SELECT i, CASE WHEN i <= $1 THEN 1 ELSE 2 END, CASE WHEN i <= $1 THEN 'immediately' ELSE 'daily' END,
		       'user_signed_up', now() - interval '2 days'
		FROM generate_series(1, $1 * 2) i;
		ANALYZE`
	for _, q := range strings.Split(seed, ";") {
		if strings.TrimSpace(q) == "" {
			continue
		}
		args := []any{}
		if strings.Contains(q, "$1") {
			args = append(args, n)
		}
		if _, err := db.ExecContext(ctx, q, args...); err != nil {
			return "", fmt.Errorf("seed: %w", err)
		}
	}

	ceiling := func(kind string, list int) (time.Duration, error) {
		step("alerts: ceiling, INSERT … SELECT of " + kind + " rows")
		for _, q := range []string{`DROP TABLE IF EXISTS emails_ceiling`, `CREATE TABLE emails_ceiling (LIKE emails INCLUDING ALL)`} {
			if _, err := db.ExecContext(ctx, q); err != nil {
				return 0, err
			}
		}
		start := time.Now()
		_, err := db.ExecContext(ctx, `
			INSERT INTO emails_ceiling (kind, address, subject, body, content_change_id, digest_run_id, subscriber_id, subscriber_list_id, covers_from)
			SELECT $1, p.address, 'Update from GOV.UK for: Bench', '', CASE WHEN $1 = 'alert' THEN gen_random_uuid() END,
			       CASE WHEN $1 = 'digest' THEN 1 END, s.subscriber_id, s.subscriber_list_id, CASE WHEN $1 = 'digest' THEN now() END
			FROM subscriptions s JOIN subscribers p ON p.id = s.subscriber_id
			WHERE s.subscriber_list_id = $2 AND s.ended_at IS NULL`, kind, list)
		return time.Since(start), err
	}
	fanOutCeiling, err := ceiling("alert", 1)
	if err != nil {
		return "", fmt.Errorf("ceiling: %w", err)
	}

	step("alerts: fan-out of one content change")
	emails, err := mail.ParseTemplates(templates.Email)
	if err != nil {
		return "", err
	}
	root, _ := url.Parse("https://www.gov.uk")
	s, err := alerts.New(db, nil, alerts.Config{WebsiteRoot: root, DigestHour: 8}, emails,
		magiclink.NewUnsubscribeLinks(db, root))
	if err != nil {
		return "", err
	}
	var id uuid.UUID
	if err := db.GetContext(ctx, &id, `
		INSERT INTO content_changes (content_id, title, base_path, change_note, public_updated_at, document_type,
			email_document_supertype, government_document_supertype, publishing_app, tags, links, received_at)
		VALUES (gen_random_uuid(), 'Bench', '/bench', 'Changed', now(), 'guide', '', '', 'bench',
			'{"topics":["vat"]}', '{"organisations":["hmrc"]}', now() - interval '1 hour')
		RETURNING id`); err != nil {
		return "", err
	}
	// The fan-out runs in this process, which has seeded and measured
	// before: its peak RSS is the fan-out's only once the high-water mark
	// is reset to what the process holds now.
	debug.FreeOSMemory()
	if err := resetPeakRSS(); err != nil {
		return "", err
	}
	start := time.Now()
	if err := s.FanOut(ctx, id); err != nil {
		return "", err
	}
	fanOut := time.Since(start)
	fanOutRSS := peakRSS(os.Getpid())
	var written int
	if err := db.GetContext(ctx, &written, `SELECT count(*) FROM emails WHERE content_change_id = $1`, id); err != nil {
		return "", err
	}

	digestCeiling, err := ceiling("digest", 2)
	if err != nil {
		return "", fmt.Errorf("ceiling: %w", err)
	}
	step("alerts: daily digest run (the digest command)")
	digest, digestRSS, out, err := runDigestCommand(ctx, dbURL(name))
	if err != nil {
		return "", fmt.Errorf("digest: %w\n%s", err, out)
	}
	var digests int
	if err := db.GetContext(ctx, &digests, `SELECT count(*) FROM emails WHERE kind = 'digest'`); err != nil {
		return "", err
	}

	rate := func(rows int, d time.Duration) float64 { return float64(rows) / d.Seconds() }
	var b strings.Builder
	fmt.Fprintf(&b, "## Alerts\n\n%d immediate subscribers of one list and %d daily subscribers of another. "+
		"Ceiling: one `INSERT … SELECT` of the same rows into a copy of `emails` with the same indexes, in the same run.\n\n", n, n)
	b.WriteString("| workload | emails | time | emails/s | ceiling emails/s | ratio | target | peak RSS |\n|---|---|---|---|---|---|---|---|\n")
	fmt.Fprintf(&b, "| fan-out (one content change) | %d | %.1f s | %.0f | %.0f | %.0f%% | ≥ 50%%, < 60 s | %.0f MB (bench process, in-process fan-out) |\n",
		written, fanOut.Seconds(), rate(written, fanOut), rate(n, fanOutCeiling),
		100*rate(written, fanOut)/rate(n, fanOutCeiling), fanOutRSS)
	fmt.Fprintf(&b, "| daily digest run | %d | %.1f s | %.0f | %.0f | %.0f%% | ≥ 30%% | %.0f MB (`email-alert digest`) |\n\n",
		digests, digest.Seconds(), rate(digests, digest), rate(n, digestCeiling),
		100*rate(digests, digest)/rate(n, digestCeiling), digestRSS)
	return b.String(), nil
}

// runDigestCommand builds the binary and runs `email-alert digest daily`
// for a window ending now, returning its time and peak RSS.
func runDigestCommand(ctx context.Context, dsn string) (time.Duration, float64, string, error) {
	_, bin, remove, err := buildService()
	if err != nil {
		return 0, 0, "", err
	}
	defer remove()
	cmd := exec.CommandContext(ctx, bin, "digest", "daily", "--at", time.Now().Format(time.RFC3339))
	cmd.Env = append(os.Environ(), "DATABASE_URL="+dsn)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, out.String(), err
	}
	// Its peak RSS is read from /proc while it runs: the rusage of a child
	// started with vfork carries this process's own high-water mark across
	// the exec.
	var rss float64
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			if err != nil {
				return 0, 0, out.String(), err
			}
			return time.Since(start), rss, out.String(), nil
		case <-tick.C:
			rss = max(rss, peakRSS(cmd.Process.Pid))
		}
	}
}

// resetPeakRSS resets this process's peak RSS (VmHWM) to its current RSS.
func resetPeakRSS() error {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		return fmt.Errorf("reset peak RSS: %w", err)
	}
	return nil
}
