// Package graphsim is a local emulator of Microsoft Graph cloud
// communications and of the Teams-side media processor, for tests, the demo,
// benchmarks and embedders' own tests. It is to Graph what httptest.Server is
// to an HTTP service: real code talks to it over real sockets.
//
// It serves a client-credentials token endpoint, an OpenID configuration and
// JWKS, and the call actions under /v1.0/communications/calls. A Scenario is
// a call it plays against a bot: an RS256-signed incoming-call notification
// shaped like Graph's, checks on the bot's answer, the media processor's SDP
// answer to the blob, a roster mapping each participant's audio sourceId to
// its SSRC, each participant's audio over real UDP on loopback (Opus for a
// Teams user, G.711 µ-law for a phone participant; with RFC 6464 audio
// levels and encoded silence between talk spans when the participant asks),
// call states, content sharing, and the end of the call.
//
// It also plays the other side of calls the bot places (POST
// /communications/calls): meetings (AddMeeting: by join link or by join
// meeting id and passcode, with a lobby if asked), Teams users (AddUser) and
// phone numbers (AddPhone), or refuses them as Graph does.
package graphsim
