// Package call is one call's worker and the table of the calls a bot
// holds. A Call follows Graph's states, its roster, lobby, recording gate,
// operations and content-sharing sessions, brings its media session up and
// hands each stream to the decoders; it ends when Graph says so, or when
// the bot leaves it, waiting then in a closing state for Graph's last word.
//
// Every event of a call leaves through one path, Call.emit, so that every
// one of them passes the call's recording gate. The Table routes Graph's
// notifications to their calls in order, one worker goroutine per call.
//
// The package sees the bot through the small Bot interface and the Deps
// it is given; it knows nothing of HTTP routes, policies or sinks.
package call
