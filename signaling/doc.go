// Package signaling is the Graph side of the bot: everything that speaks
// Microsoft Graph cloud communications rather than media.
//
// It holds the wire types Graph sends and receives (the commsNotifications
// envelope and the call, participant, contentSharingSession and operation
// resources inside it, plus the answer and reject request bodies), the parser
// that turns a notification's resourceUrl into a call id and a kind, and the
// validation of the JWT Graph puts on every callback POST. Later files add the
// webhook handler, the outbound Graph client and the call registry.
//
// The types mirror Graph's JSON closely, with Graph's names in Go casing, so
// that testdata can hold Graph's documented examples verbatim and graphsim
// can send exactly what Graph sends.
package signaling
