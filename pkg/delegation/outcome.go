package delegation

// Outcome is how handing a login's credentials to the application ended:
// a metric label.
type Outcome string

const (
	// Forwarded: the client delegated its TGT; it is in the cache.
	Forwarded Outcome = "forwarded"
	// S4U2Proxy: tickets to the backends got with the user's ticket to
	// this service (constrained delegation).
	S4U2Proxy Outcome = "s4u2proxy"
	// ProtocolTransition: tickets to the backends for an NTLM or Basic
	// login (S4U2Self, then S4U2Proxy).
	ProtocolTransition Outcome = "protocol_transition"
	// KDCRefused: the KDC refused a step (its KRB error and the remedy
	// are logged).
	KDCRefused Outcome = "kdc_refused"
	// KDCUnreachable: no KDC answered within delegation.kdc_timeout.
	KDCUnreachable Outcome = "kdc_unreachable"
	// Busy: delegation.max_in_flight logins were asking the KDC already.
	Busy Outcome = "busy"
	// NoneSent: a Kerberos login at a delegating location whose client
	// delegated nothing, and nothing else to get.
	NoneSent Outcome = "none_sent"
	// BadKRBCred: the client's KRB-CRED did not open, or named another
	// client than the ticket's.
	BadKRBCred Outcome = "bad_krbcred"
	// NotDelegable: the account is "sensitive and cannot be delegated",
	// or in Protected Users: it gets no cache (a WARN says so).
	NotDelegable Outcome = "not_delegable"
	// Full: the directory holds delegation.max_ccaches files.
	Full Outcome = "full"
	// WriteFailed: the file could not be written.
	WriteFailed Outcome = "write_failed"
)

// Outcomes lists every Outcome, for metrics that want each label present.
var Outcomes = []Outcome{Forwarded, S4U2Proxy, ProtocolTransition, NoneSent, BadKRBCred, NotDelegable, KDCRefused, KDCUnreachable, Busy, Full, WriteFailed}
