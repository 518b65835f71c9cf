// Package raceflag tells whether the running binary was built with the race
// detector, for tests whose pacing or memory figures it changes.
package raceflag

import "runtime/debug"

// Enabled reports whether the binary was built with -race.
func Enabled() bool {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "-race" {
				return s.Value == "true"
			}
		}
	}
	return false
}
