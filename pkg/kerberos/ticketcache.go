package kerberos

import (
	"crypto/sha256"
	"crypto/subtle"
	"sync"

	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
)

// openTicket is a ticket's encrypted part as the service key opened it,
// its PAC checked, and the session key's derived keys: all of it a
// function of the ticket's ciphertext and the service key, and so the
// same for every AP-REQ a client makes with that ticket (a browser makes
// one per new connection, for hours). Keeping it saves a login the
// ticket's decryption, the PAC's NDR decoding and signature check and
// four key derivations: most of its CPU.
type openTicket struct {
	// enc is the ticket's encrypted part without its authorization data
	// (the PAC is below, decoded).
	enc    messages.EncTicketPart
	pac    *PAC
	pacErr error
	// auth and rep are the session key's keys for the authenticator and
	// the AP-REP; nil unless AES SHA-1.
	auth, rep *sealKeys
	// key is the service key that opened it.
	key types.EncryptionKey
	// weight is what the entry counts against the cache's bound.
	weight int
}

// ticketCache holds the opened tickets, keyed by the SHA-256 of their
// ciphertext (which ends in its HMAC): a ciphertext that is not one this
// process opened with the same service key is opened again, so the cache
// takes nothing on trust from the client. Only tickets that decrypted are
// kept, which takes the service key to make (the KDC's). Bounded by
// entries and by the PAC SIDs they hold; past the bound, entries are
// dropped in map order (random).
type ticketCache struct {
	mu      sync.Mutex
	m       map[[32]byte]*openTicket
	weight  int
	maxW    int
	maxSize int
}

// Bounds of the ticket cache: 4096 tickets (a browser holds one per site
// and user), or 1<<17 PAC SIDs in all (about 10 MiB).
const (
	ticketCacheMax       = 4096
	ticketCacheMaxWeight = 1 << 17
)

func newTicketCache() *ticketCache {
	return &ticketCache{m: map[[32]byte]*openTicket{}, maxW: ticketCacheMaxWeight, maxSize: ticketCacheMax}
}

func ticketID(t *messages.Ticket) [32]byte { return sha256.Sum256(t.EncPart.Cipher) }

func (c *ticketCache) get(id [32]byte, key types.EncryptionKey) *openTicket {
	c.mu.Lock()
	o := c.m[id]
	c.mu.Unlock()
	if o == nil || o.key.KeyType != key.KeyType || subtle.ConstantTimeCompare(o.key.KeyValue, key.KeyValue) != 1 {
		return nil
	}
	return o
}

func (c *ticketCache) put(id [32]byte, o *openTicket) {
	if o.weight > c.maxW {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.m[id]; old != nil {
		c.weight -= old.weight
	}
	for k, e := range c.m {
		if len(c.m) < c.maxSize && c.weight+o.weight <= c.maxW {
			break
		}
		delete(c.m, k)
		c.weight -= e.weight
	}
	c.m[id] = o
	c.weight += o.weight
}

// open returns t's opened encrypted part: the cache's, or decrypted with
// key, its PAC checked, and cached. The error is the decryption's.
func (a *Acceptor) open(t *messages.Ticket, key types.EncryptionKey) (*openTicket, error) {
	id := ticketID(t)
	if o := a.tickets.get(id, key); o != nil {
		return o, nil
	}
	if err := t.Decrypt(key); err != nil {
		return nil, err
	}
	enc := t.DecryptedEncPart
	o := &openTicket{key: key}
	o.pac, o.pacErr = pacOf(enc.AuthorizationData, key, a.discard)
	enc.AuthorizationData = nil
	o.enc = enc
	o.auth = deriveSealKeys(enc.Key, keyusage.AP_REQ_AUTHENTICATOR)
	o.rep = deriveSealKeys(enc.Key, keyusage.AP_REP_ENCPART)
	o.weight = 1
	if o.pac != nil {
		o.weight += len(o.pac.GroupSIDs)
	}
	a.tickets.put(id, o)
	return o, nil
}
