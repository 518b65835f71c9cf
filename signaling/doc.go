// Package signaling is the Graph side of the bot: everything that speaks
// Microsoft Graph cloud communications rather than media.
//
// It holds the wire types Graph sends and receives (the commsNotifications
// envelope and the call, participant, contentSharingSession and operation
// resources inside it, the request bodies of the bot's actions), the parser
// that turns a notification's resourceUrl into a call id and a kind, the
// validation of the JWT Graph puts on every callback POST, the webhook
// handler (chi), the Graph client with its client-credentials tokens and
// retries, meeting join links, and the clouds' hosts. What the bot does
// with a call is not here: that is the per-call worker's (internal/call).
//
// The types mirror Graph's JSON closely, with Graph's names in Go casing, so
// that testdata can hold Graph's documented examples verbatim and graphsim
// can send exactly what Graph sends.
package signaling
