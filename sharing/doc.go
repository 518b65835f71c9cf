// Package sharing follows the content-sharing sessions of each call, which
// Graph reports as created and deleted notifications on
// /communications/calls/{id}/contentsharingsessions/{sessionId}. A Tracker
// turns them, in whatever order and number they arrive, into one
// sharing.started and one sharing.ended event per session, on the call's
// media clock. It knows nothing of HTTP or Graph's wire format.
package sharing
