// Package ccache owns MIT Kerberos' credential cache file format (version
// 4, "FILE:" caches): the file GoAuthenNTLM hands an application as
// KRB5CCNAME so that it acts as the logged-in user. It only encodes;
// package delegation decides what goes in and where the file lives.
//
// Hand-written because gokrb5 only reads this format (credentials.CCache),
// and the format is small: MIT's ccache_file_format.html.
package ccache

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jcmturner/gokrb5/v8/types"
)

// Principal is a principal name in its realm.
type Principal struct {
	Realm string
	Name  types.PrincipalName
}

// String is name@REALM, as klist shows it.
func (p Principal) String() string { return p.Name.PrincipalNameString() + "@" + p.Realm }

// Credential is one ticket with its session key, as a client holds it.
type Credential struct {
	Client, Server Principal
	Key            types.EncryptionKey
	AuthTime       time.Time
	StartTime      time.Time
	EndTime        time.Time
	RenewTill      time.Time
	// Flags are RFC 4120's TicketFlags, bit 0 (reserved) the most
	// significant, as MIT keeps them (TKT_FLG_FORWARDABLE 0x40000000).
	Flags uint32
	// Ticket is the ticket's DER encoding, as the KDC issued it.
	Ticket []byte
}

// String names the credential without its key.
func (c Credential) String() string {
	return fmt.Sprintf("%s for %s until %s", c.Client, c.Server, c.EndTime.UTC().Format(time.RFC3339))
}

// GoString keeps the key out of %#v.
func (c Credential) GoString() string { return c.String() }

// FlagsOf reads the first 32 bits of an RFC 4120 KerberosFlags bit string
// into Credential.Flags' form.
func FlagsOf(b []byte) uint32 {
	var f [4]byte
	copy(f[:], b)
	return binary.BigEndian.Uint32(f[:])
}

// Marshal encodes a version 4 cache whose default principal is def holding
// creds, in order. MIT's clients take the first ticket for a server they
// find, and the default principal as the user they act as.
func Marshal(def Principal, creds []Credential) ([]byte, error) {
	w := &writer{b: make([]byte, 0, 1024)}
	// Version 0x0504, then the header: no fields (MIT writes the KDC time
	// offset there only when it has one).
	w.u16(0x0504)
	w.u16(0)
	w.principal(def)
	for i := range creds {
		c := &creds[i]
		if c.Key.KeyType < 0 || c.Key.KeyType > math.MaxUint16 {
			return nil, fmt.Errorf("ccache: credential %d: enctype %d out of range", i, c.Key.KeyType)
		}
		if len(c.Ticket) == 0 {
			return nil, fmt.Errorf("ccache: credential %d (%s) has no ticket", i, c.Server)
		}
		w.principal(c.Client)
		w.principal(c.Server)
		w.u16(uint16(c.Key.KeyType))
		w.data(c.Key.KeyValue)
		for _, t := range []time.Time{c.AuthTime, c.StartTime, c.EndTime, c.RenewTill} {
			w.time(t)
		}
		w.b = append(w.b, 0) // is_skey: no user-to-user tickets
		w.u32(c.Flags)
		w.u32(0) // addresses: none (tickets for any address)
		w.u32(0) // authdata: none
		w.data(c.Ticket)
		w.data(nil) // second ticket
	}
	if w.err != nil {
		return nil, w.err
	}
	return w.b, nil
}

type writer struct {
	b   []byte
	err error
}

func (w *writer) u16(v uint16) { w.b = binary.BigEndian.AppendUint16(w.b, v) }
func (w *writer) u32(v uint32) { w.b = binary.BigEndian.AppendUint32(w.b, v) }

func (w *writer) data(d []byte) {
	if uint64(len(d)) > math.MaxUint32 {
		w.err = errors.New("ccache: field too long")
		return
	}
	w.u32(uint32(len(d)))
	w.b = append(w.b, d...)
}

// time is a 32-bit Unix time, 0 for none (MIT's "not set").
func (w *writer) time(t time.Time) {
	if t.IsZero() || t.Unix() <= 0 {
		w.u32(0)
		return
	}
	u := t.Unix()
	if u > math.MaxUint32 {
		u = math.MaxUint32
	}
	w.u32(uint32(u))
}

func (w *writer) principal(p Principal) {
	w.u32(uint32(p.Name.NameType))
	w.u32(uint32(len(p.Name.NameString)))
	w.data([]byte(p.Realm))
	for _, s := range p.Name.NameString {
		w.data([]byte(s))
	}
}
