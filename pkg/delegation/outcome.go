package delegation

// Outcome is how handing a login's credentials to the application ended:
// a metric label.
type Outcome string

const (
	// Forwarded: the client delegated its TGT; it is in the cache.
	Forwarded Outcome = "forwarded"
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
var Outcomes = []Outcome{Forwarded, NoneSent, BadKRBCred, NotDelegable, Full, WriteFailed}
