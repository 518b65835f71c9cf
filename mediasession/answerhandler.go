package mediasession

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"
)

// MaxAnswerBytes bounds an SDP answer; a real one is a few kilobytes.
const MaxAnswerBytes = 64 << 10

// AnswerHandler serves POST /media/sessions/{sessionId}/answer: the media
// processor's SDP answer, with the blob's token as bearer. Mount it on a chi
// router; it reads the {sessionId} URL parameter.
//
// 204 taken; 401 token wrong; 404 unknown session; 409 already answered;
// 410 expired or call gone (a session that ended is remembered for
// endedMemory); 400 bad SDP, which leaves the session open for a corrected
// answer; 413 too large.
func (e *Engine) AnswerHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := e.Session(chi.URLParam(r, "sessionId"))
		if s == nil && e.hasEnded(chi.URLParam(r, "sessionId")) {
			writeError(w, http.StatusGone, ErrSessionClosed)
			return
		}
		if s == nil {
			writeError(w, http.StatusNotFound, ErrUnknownSession)
			return
		}
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			writeError(w, http.StatusUnauthorized, ErrBadToken)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxAnswerBytes))
		if err != nil {
			writeError(w, http.StatusRequestEntityTooLarge, errors.New("mediasession: SDP answer too large"))
			return
		}
		if err := s.Answer(token, body); err != nil {
			writeError(w, answerStatus(err), err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

func answerStatus(err error) int {
	switch {
	case errors.Is(err, ErrBadToken):
		return http.StatusUnauthorized
	case errors.Is(err, ErrAlreadyAnswered):
		return http.StatusConflict
	case errors.Is(err, ErrSessionExpired), errors.Is(err, ErrSessionClosed):
		return http.StatusGone
	case errors.Is(err, ErrUnknownSession):
		return http.StatusNotFound
	default:
		return http.StatusBadRequest
	}
}

func writeError(w http.ResponseWriter, status int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}
