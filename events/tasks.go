package events

import (
	"encoding/hex"
	"encoding/json"
	"hash/fnv"
	"time"

	"github.com/hibiken/asynq"
)

// Task types.
const (
	TypeApply               = "events:apply"                 // a batch of events
	TypeAccountEmailChanged = "events:account-email-changed" // one event: tasks queued before batches
	TypeAccountDeleted      = "events:account-deleted"       // one event: tasks queued before batches
	TypeSweep               = "events:sweep"
	TypeForgetInactive      = "events:forget-inactive"
)

// MaxAttempts is how often an event is tried before it is marked failed.
const MaxAttempts = 12

// BatchSize is the most events one TypeApply task applies, in one
// transaction.
const BatchSize = 50

type taskPayload struct {
	EventID string `json:"event_id"`
}

type batchPayload struct {
	EventIDs []string `json:"event_ids"`
}

// newBatchTask returns the task applying the events ids. Its TaskID is
// theirs, so the same batch waiting in the queue is never queued twice.
func newBatchTask(ids []string, queue string) *asynq.Task {
	payload, _ := json.Marshal(batchPayload{EventIDs: ids}) // cannot fail
	h := fnv.New128a()
	for _, id := range ids {
		h.Write([]byte(id))
		h.Write([]byte{0})
	}
	return asynq.NewTask(TypeApply, payload,
		asynq.TaskID("events:"+hex.EncodeToString(h.Sum(nil))),
		asynq.Queue(queue),
		asynq.MaxRetry(MaxAttempts),
		asynq.Timeout(time.Minute),
	)
}
