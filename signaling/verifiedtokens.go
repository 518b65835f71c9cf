package signaling

import (
	"crypto/rsa"
	"crypto/sha256"
	"sync"

	"github.com/go-jose/go-jose/v4/jwt"
)

// maxVerifiedTokens bounds the tokens remembered; past it the memory
// starts over (Graph signs a handful of tokens an hour per tenant).
const maxVerifiedTokens = 1024

// verifiedTokens remembers the tokens whose signature a key verified, by
// the token's SHA-256. Graph signs a token once and sends it with every
// notification for as long as it is valid, and an RSA verification costs
// more than the rest of a notification: in a burst of calls it is the
// webhook's largest cost. A remembered token still has its claims checked
// against the clock each time, and is verified again once the key set is
// fetched anew (a key rotated out refuses it).
type verifiedTokens struct {
	mu     sync.Mutex
	tokens map[[sha256.Size]byte]verifiedToken
}

type verifiedToken struct {
	kid string
	key *rsa.PublicKey // the key that verified it, as the key set held it
	std jwt.Claims
	tid string
}

func (v *verifiedTokens) get(sum [sha256.Size]byte) (verifiedToken, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	t, ok := v.tokens[sum]
	return t, ok
}

func (v *verifiedTokens) put(sum [sha256.Size]byte, t verifiedToken) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.tokens == nil || len(v.tokens) >= maxVerifiedTokens {
		v.tokens = make(map[[sha256.Size]byte]verifiedToken)
	}
	v.tokens[sum] = t
}
