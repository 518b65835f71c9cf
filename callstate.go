package mediabot

// stateRank orders Graph's call states: a notification may come late or
// twice, and a call's state never goes backwards. States of equal rank 2
// (established, hold, transferring, ...) may follow each other freely.
var stateRank = map[string]int{
	"incoming":         0,
	"establishing":     1,
	"established":      2,
	"hold":             2,
	"transferring":     2,
	"transferAccepted": 2,
	"redirecting":      2,
	"terminating":      3,
	"terminated":       4,
}

// advances reports whether moving from cur to next is a real change.
func advances(cur, next string) bool {
	rc, okc := stateRank[cur]
	rn, okn := stateRank[next]
	if !okn || next == cur {
		return false
	}
	if !okc {
		return true
	}
	return rn > rc || (rn == 2 && rc == 2)
}
