package event

// IdentityKind says what kind of party a participant is.
type IdentityKind string

// The identity kinds of the README's "Outputs" section.
const (
	KindUser        IdentityKind = "user"
	KindApplication IdentityKind = "application"
	KindPhone       IdentityKind = "phone"
	KindGuest       IdentityKind = "guest"
)

// Identity is a participant's resolved identity: an Entra (AAD) object id
// and tenant for users and applications, a phone number for PSTN legs, and
// only a display name for guests.
type Identity struct {
	Kind        IdentityKind `json:"kind"`
	ID          string       `json:"id,omitempty"`
	DisplayName string       `json:"displayName,omitempty"`
	TenantID    string       `json:"tenantId,omitempty"`
	Phone       string       `json:"phone,omitempty"`
}
