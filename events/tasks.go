package events

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
)

// Task types.
const (
	TypeAccountEmailChanged = "events:account-email-changed"
	TypeAccountDeleted      = "events:account-deleted"
	TypeSweep               = "events:sweep"
	TypeForgetInactive      = "events:forget-inactive"
)

// MaxAttempts is how often an event is tried before it is marked failed.
const MaxAttempts = 12

type taskPayload struct {
	EventID string `json:"event_id"`
}

// newTask returns the task applying event id of kind. Its TaskID is the
// event id, so an event waiting in the queue is never queued twice.
func newTask(id, kind, queue string) (*asynq.Task, error) {
	typ := TypeAccountEmailChanged
	switch kind {
	case KindEmailChanged:
	case KindDeleted:
		typ = TypeAccountDeleted
	default:
		return nil, fmt.Errorf("event %s: kind %q has no task", id, kind)
	}
	payload, _ := json.Marshal(taskPayload{EventID: id}) // cannot fail
	return asynq.NewTask(typ, payload,
		asynq.TaskID("event:"+id),
		asynq.Queue(queue),
		asynq.MaxRetry(MaxAttempts),
		asynq.Timeout(time.Minute),
	), nil
}
