// Package subscriberstest helps the tests of packages that change
// subscribers read what the audit trail recorded.
package subscriberstest

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"email-alert/subscribers"
)

// Audited is the part of an audit entry that tests compare.
type Audited struct {
	Action  string
	Cause   subscribers.Cause
	Details map[string]any
}

// Audit returns the audit trail of subscriber id, oldest first. It fails
// t on an entry without an id or a time, or whose details hold an email
// address (the audit outlives addresses).
func Audit(t testing.TB, store *subscribers.Store, id int64) []Audited {
	t.Helper()
	entries, err := store.AuditTrail(context.Background(), id)
	if err != nil {
		t.Fatalf("audit of %d: %v", id, err)
	}
	var got []Audited
	for _, e := range entries {
		if strings.Contains(string(e.Details), "@") {
			t.Errorf("audit details hold an address: %s", e.Details)
		}
		if e.CreatedAt.IsZero() || e.ID == 0 {
			t.Errorf("audit entry without id or time: %+v", e)
		}
		a := Audited{Action: e.Action, Cause: e.Cause}
		if err := json.Unmarshal(e.Details, &a.Details); err != nil {
			t.Fatal(err)
		}
		got = append(got, a)
	}
	return got
}
