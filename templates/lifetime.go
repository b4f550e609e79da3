package templates

import (
	"fmt"
	"time"
)

// Funcs are the functions every template, email or page, may call. Pass
// them to Funcs before parsing (text/template and html/template both
// take a map[string]any).
func Funcs() map[string]any {
	return map[string]any{"lifetime": lifetimeFunc}
}

// Lifetime is how the templates write how long a link works: "24 hours",
// "7 days". The words come from the same duration that sets the link's
// expiry (linking's TTL constants), so changing one changes the other.
// Whole days from two days up are written in days; whole hours in hours;
// anything else in minutes, rounded up to the next whole minute.
func Lifetime(d time.Duration) string {
	const day = 24 * time.Hour
	switch {
	case d >= 2*day && d%day == 0:
		return plural(int64(d/day), "day")
	case d >= time.Hour && d%time.Hour == 0:
		return plural(int64(d/time.Hour), "hour")
	default:
		return plural(max(1, int64((d+time.Minute-1)/time.Minute)), "minute")
	}
}

func plural(n int64, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

// lifetimeFunc is Lifetime as the templates call it: {{lifetime .Expiry}}.
// Anything but a time.Duration is an error, so text typed in as
// "Expiry": "24 hours" fails the render instead of drifting from the
// duration. No value at all (a page rendered with no data, as
// frontend.New does at start) prints nothing.
func lifetimeFunc(v any) (string, error) {
	switch d := v.(type) {
	case nil:
		return "", nil
	case time.Duration:
		return Lifetime(d), nil
	default:
		return "", fmt.Errorf("lifetime: got %T, want a time.Duration", v)
	}
}
