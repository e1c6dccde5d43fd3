package dc

import "context"

// Relay relays NTLM handshakes to one domain's DCs. It is the seam between
// the authorizer and the DCs: *Pool relays to real ones over SMB2, and
// package dctest fakes them for the authorizer's unit tests.
type Relay interface {
	// Negotiate relays a raw NTLM Type1 and returns the DC's raw Type2
	// with the handshake that must carry the Type3.
	Negotiate(ctx context.Context, type1 []byte) (Handshake, []byte, error)
	// Close releases the DC connections.
	Close() error
}

// Handshake is one relayed NTLM handshake between the DC's Type2 and the
// client's Type3.
type Handshake interface {
	// Authenticate relays the raw Type3 to the DC that sent the Type2. nil
	// means the DC accepted the login as the Type3's user (never as guest
	// or anonymous). Authenticate closes the handshake.
	Authenticate(ctx context.Context, type3 []byte, opts ...AuthOption) error
	// DC names the DC that answered, for logs.
	DC() string
	// Close abandons the handshake; it is idempotent.
	Close()
}

// AuthOption qualifies one Authenticate call.
type AuthOption uint8

const (
	// ForeignName says that the Type3 names an account away from the DC's
	// own domain: a domain name that is not the served domain's (a
	// trusted domain, or none), or a UPN suffix that is not its DNS name.
	// The DC passes such a login on, so a DCFailure answer to it may be
	// the other domain's failure, and whoever typed the name chose it
	// without needing a password. It is answered and logged as any
	// DCFailure but does not count towards marking the DC down (nor
	// does a timeout, which may be the other domain's DCs being away):
	// else anyone could take a working DC out of rotation for everybody.
	ForeignName AuthOption = iota + 1
)

var _ Relay = (*Pool)(nil)
