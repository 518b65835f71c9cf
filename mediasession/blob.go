package mediasession

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"
)

// BlobVersion is the only blob version this package makes and accepts.
const BlobVersion = 1

// Blob is the appHostedMediaConfig blob, version 1: what the media processor
// needs to connect to this bot for one call. Encoded, it is the base64url
// (RFC 4648 §5, unpadded) form of this JSON object.
type Blob struct {
	V         int       `json:"v"`
	SessionID string    `json:"sessionId"`
	CallID    string    `json:"callId"`
	Offer     string    `json:"offer"`     // complete SDP offer, candidates gathered
	AnswerURI string    `json:"answerUri"` // where the SDP answer is POSTed
	Token     string    `json:"token"`     // bearer token for AnswerURI
	ExpiresAt time.Time `json:"expiresAt"` // the answer is refused after this
}

// Encode returns the blob as it goes into appHostedMediaConfig.blob.
func (b Blob) Encode() (string, error) {
	raw, err := json.Marshal(b)
	if err != nil {
		return "", fmt.Errorf("encode blob: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(raw), nil
}

// DecodeBlob parses an appHostedMediaConfig blob. It accepts padded base64url
// too, ignores unknown fields and refuses any version but 1.
func DecodeBlob(s string) (Blob, error) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		raw, err = base64.URLEncoding.DecodeString(s)
	}
	if err != nil {
		return Blob{}, fmt.Errorf("%w: not base64url: %v", ErrBadBlob, err)
	}
	var b Blob
	if err := json.Unmarshal(raw, &b); err != nil {
		return Blob{}, fmt.Errorf("%w: %v", ErrBadBlob, err)
	}
	if b.V != BlobVersion {
		return Blob{}, fmt.Errorf("%w: v=%d", ErrBlobVersion, b.V)
	}
	if b.Offer == "" || b.AnswerURI == "" || b.Token == "" {
		return Blob{}, fmt.Errorf("%w: offer, answerUri and token are required", ErrBadBlob)
	}
	return b, nil
}
