package signaling

import "errors"

var (
	// ErrUnauthorized is wrapped by every failure of inbound token
	// validation. The webhook answers 401 when errors.Is finds it.
	ErrUnauthorized = errors.New("signaling: unauthorized")

	// ErrKeysUnavailable is returned by Authenticate when the signing keys
	// could not be fetched and none are cached: the bot's fault (or its
	// network's), not the caller's, so the webhook answers 503.
	ErrKeysUnavailable = errors.New("signaling: signing keys unavailable")

	// ErrBadNotification is wrapped when a notification's body or its
	// resourceData does not have the shape Graph documents.
	ErrBadNotification = errors.New("signaling: bad notification")

	// ErrUnknownResource is wrapped when a resource path names no call, so
	// the notification cannot be routed at all.
	ErrUnknownResource = errors.New("signaling: unknown resource")

	// ErrAuthConfig is wrapped by NewAuthenticator when the configuration
	// cannot validate anything; it is a start-up mistake, never a request one.
	ErrAuthConfig = errors.New("signaling: bad auth config")
)

// ErrGraph is wrapped by every refusal Graph answers with a non-2xx status
// (see APIError for the status and Graph's error body).
var ErrGraph = errors.New("signaling: graph refused the request")

// ErrToken wraps a failure to get an access token for a request: it never
// reached Graph (a wrong tenant or credential, the token endpoint
// unreachable).
var ErrToken = errors.New("signaling: cannot get a token")

// ErrCallGone is wrapped when Graph answers 404 for a call: it has ended.
var ErrCallGone = errors.New("signaling: call no longer exists")

// ErrInvalidRequest is wrapped when the client refuses to send a request
// Graph would refuse anyway (no targets, an unknown recording status, a
// clientContext over 256 characters, ...): a caller's mistake, found before
// any network I/O.
var ErrInvalidRequest = errors.New("signaling: invalid Graph request")

// ErrBadReply is wrapped when Graph's 2xx reply cannot be used: a body that
// is not the documented JSON, or a participants nextLink that leaves Graph
// or never ends.
var ErrBadReply = errors.New("signaling: unusable reply from graph")
