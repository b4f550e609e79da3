package mail

import "time"

// SetRecordTimeout shortens how long d waits for a batch's outcomes to be
// written, so that a test can make the write time out.
func (d *Deliverer) SetRecordTimeout(t time.Duration) { d.recordTimeout = t }
