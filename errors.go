package mediabot

import "errors"

// The errors of the bot's API; returned errors wrap them, so test with
// errors.Is.
var (
	// ErrUnknownCall is returned for a call id this instance does not hold.
	ErrUnknownCall = errors.New("mediabot: unknown call")

	// ErrBadJoinRequest is wrapped when a JoinRequest cannot become a
	// call: no destination or more than one, a malformed join link,
	// meeting id or phone number, a phone call without an application
	// instance.
	ErrBadJoinRequest = errors.New("mediabot: bad join request")

	// ErrNotPlacing is returned by Join while the bot drains, when it holds
	// (or is placing) Config.MaxCalls calls already, or when it is
	// overloaded.
	ErrNotPlacing = errors.New("mediabot: not placing calls")

	// ErrNoReplyFromGraph is wrapped when Graph could not be reached or did
	// not answer the request to place a call: Graph may have created the
	// call all the same (the bot then hangs it up when its notifications
	// come).
	ErrNoReplyFromGraph = errors.New("mediabot: no reply from Graph")

	// ErrNoToken is wrapped when the bot cannot get an access token for the
	// tenant: no request reached Graph, so no call exists. Check the tenant
	// id, the client secret or certificate, and that the host reaches the
	// token endpoint.
	ErrNoToken = errors.New("mediabot: cannot get a token")
)
