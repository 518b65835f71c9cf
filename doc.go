// Package mediabot is an application-hosted media bot for Microsoft Graph
// cloud communications, as a Go library: it answers the calls Graph offers
// it with an appHostedMediaConfig blob, takes the Teams media processor's
// WebRTC connection on one UDP port, decodes each participant's Opus audio
// and hands 20 ms PCM frames, tagged with the participant, to its consumers
// and sinks, with the call's events (state, roster, streams, content
// sharing) on the same media clock.
//
// Embed it with New and mount Bot.Handler in your HTTP server, or run the
// mediabot command. See the README for the contract it keeps.
package mediabot
