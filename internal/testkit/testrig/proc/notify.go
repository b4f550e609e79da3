package proc

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
)

// Notify is a fake GOV.UK Notify: it accepts every well-formed email after
// Latency and records when each arrived, by its reference (our outbox id),
// and answers the look-up by reference truthfully, as the worker uses it
// to settle a send it is unsure of. The zero value is ready to serve.
type Notify struct {
	Latency time.Duration
	// URL is where it listens, once started by StartNotify.
	URL string

	mu       sync.Mutex
	arrivals map[string][]time.Time
}

// notifyLatency is slow enough for a worker to die mid-send, and for
// delivery to go on beside other work without taking the machine.
const notifyLatency = 40 * time.Millisecond

// StartNotify starts a fake Notify answering after 40 ms, closed when the
// test ends.
func StartNotify(t testing.TB) *Notify {
	t.Helper()
	n := &Notify{Latency: notifyLatency}
	server := httptest.NewServer(n)
	t.Cleanup(server.Close)
	n.URL = server.URL
	return n
}

// Env is the environment that sends a process's email to n.
func (n *Notify) Env() []string {
	return []string{
		"EMAIL_DELIVERY=notify",
		"NOTIFY_BASE_URL=" + n.URL,
		"NOTIFY_API_KEY=test-" + uuid.NewString() + "-" + uuid.NewString(),
		"NOTIFY_TEMPLATE_ID=" + uuid.NewString(),
	}
}

func (n *Notify) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v2/notifications/email":
		var body struct {
			Reference string `json:"reference"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Reference == "" {
			http.Error(w, `{"status_code":400}`, http.StatusBadRequest)
			return
		}
		time.Sleep(n.Latency)
		n.mu.Lock()
		if n.arrivals == nil {
			n.arrivals = map[string][]time.Time{}
		}
		n.arrivals[body.Reference] = append(n.arrivals[body.Reference], time.Now())
		n.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]string{"id": uuid.NewString(), "reference": body.Reference})
	case r.Method == http.MethodGet && r.URL.Path == "/v2/notifications":
		ref := r.URL.Query().Get("reference")
		n.mu.Lock()
		found := len(n.arrivals[ref]) > 0
		n.mu.Unlock()
		list := []map[string]string{}
		if found {
			list = append(list, map[string]string{"id": "n-" + ref, "reference": ref})
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"notifications": list})
	default:
		http.NotFound(w, r)
	}
}

// Total returns how many distinct emails were accepted, and how many
// times one was accepted again.
func (n *Notify) Total() (accepted, duplicates int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, at := range n.arrivals {
		accepted++
		duplicates += len(at) - 1
	}
	return accepted, duplicates
}

// Accepted returns how many times each reference was accepted.
func (n *Notify) Accepted() map[string]int {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make(map[string]int, len(n.arrivals))
	for ref, at := range n.arrivals {
		out[ref] = len(at)
	}
	return out
}

// Arrivals returns when each reference was accepted, once per time.
func (n *Notify) Arrivals() map[string][]time.Time {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make(map[string][]time.Time, len(n.arrivals))
	for ref, at := range n.arrivals {
		out[ref] = append([]time.Time(nil), at...)
	}
	return out
}
