// Package monotime stamps instants as int64 nanoseconds on the process's
// monotonic clock, for atomics and arithmetic that must not follow the wall
// clock when it is set: a wall clock stepped an hour forward or back does
// not move a media clock, a stall timer or a tombstone's age.
//
// A time.Time from time.Now carries a monotonic reading, but UnixNano and
// time.Unix drop it; stamps from here keep it.
package monotime

import "time"

// epoch is the origin of the stamps, a second before the process began
// using them, so that no stamp is 0 (0 means "not yet" to its users).
var epoch = time.Now().Add(-time.Second)

// Now is the stamp of this instant.
func Now() int64 { return int64(time.Since(epoch)) }

// Of is t's stamp. A t without a monotonic reading (parsed, or made by
// time.Unix) falls back to its wall clock, as time.Time.Sub does.
func Of(t time.Time) int64 { return int64(t.Sub(epoch)) }

// Time is the instant of a stamp, with a monotonic reading: comparisons
// and subtractions with times from time.Now ignore the wall clock.
func Time(stamp int64) time.Time { return epoch.Add(time.Duration(stamp)) }
