// Package mediabot is an application-hosted media bot for Microsoft Graph
// cloud communications, as a Go library: it answers the calls Graph offers
// it with an appHostedMediaConfig blob, takes the Teams media processor's
// WebRTC connection on one UDP port, decodes each participant's Opus audio
// and hands 20 ms PCM frames, tagged with the participant, to its consumers
// and sinks, with the call's events (state, roster, streams, content
// sharing) on the same media clock.
//
// Embed it with New: serve Bot.Handler where Graph and media processors
// reach it, Bot.OpsHandler on your own network only (metrics, status page,
// operator API), and call Run. Frames and events reach your consumers and
// sinks (WithFrameConsumer, WithEventConsumer, WithSink), each fed on a
// goroutine of its own. Or run the mediabot command. See the README for
// the contract it keeps; package mediabottest starts a bot against
// graphsim for your tests.
package mediabot
