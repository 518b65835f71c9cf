package mediasession

import "errors"

// Errors of the media session layer. The answer endpoint maps each to its
// HTTP status (see AnswerHandler).
var (
	ErrUnknownSession   = errors.New("mediasession: unknown session")
	ErrBadToken         = errors.New("mediasession: wrong answer token")
	ErrAlreadyAnswered  = errors.New("mediasession: session already answered")
	ErrSessionExpired   = errors.New("mediasession: session expired")
	ErrSessionClosed    = errors.New("mediasession: session closed")
	ErrBadSDP           = errors.New("mediasession: bad SDP answer")
	ErrBlobVersion      = errors.New("mediasession: unsupported blob version")
	ErrBadBlob          = errors.New("mediasession: malformed blob")
	ErrTooFewSections   = errors.New("mediasession: at least 4 audio sections are needed")
	ErrEngineClosed     = errors.New("mediasession: engine closed")
	ErrBadEngineSetting = errors.New("mediasession: bad engine setting")
)
