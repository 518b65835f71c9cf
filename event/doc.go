// Package event is the shared vocabulary of mediabot: the Event every layer
// emits (call state, roster, streams, content sharing, recording, load) and
// the participant Identity that frames and events carry.
//
// It is a leaf: it imports nothing of the project, so signaling, audio,
// sharing and the sinks can all speak it without reaching into each other.
package event
