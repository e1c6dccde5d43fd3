package ccache

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/credentials"
	"github.com/jcmturner/gokrb5/v8/types"
)

func TestMarshal(t *testing.T) {
	jdoe := Principal{Realm: "EXAMPLE.TEST", Name: types.NewPrincipalName(1, "jdoe")}
	end := time.Unix(1900000000, 0)
	c := Credential{
		Client: jdoe, Server: Principal{Realm: "EXAMPLE.TEST", Name: types.NewPrincipalName(2, "ldap/dc1.example.test")},
		Key: types.EncryptionKey{KeyType: 18, KeyValue: bytes.Repeat([]byte{7}, 32)}, AuthTime: end.Add(-time.Hour), StartTime: end.Add(-time.Hour),
		EndTime: end, Flags: 0x40a10000, Ticket: []byte{0x61, 0x03, 0x02, 0x01, 0x05},
	}
	b, err := Marshal(jdoe, []Credential{c})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte{5, 4, 0, 0}) {
		t.Fatalf("header % x", b[:4])
	}
	var cc credentials.CCache
	if err := cc.Unmarshal(b); err != nil {
		t.Fatal(err)
	}
	e := cc.GetEntries()
	if len(e) != 1 || cc.DefaultPrincipal.Realm != "EXAMPLE.TEST" || e[0].Server.PrincipalName.PrincipalNameString() != "ldap/dc1.example.test" ||
		!e[0].EndTime.Equal(end) || !e[0].RenewTill.IsZero() && e[0].RenewTill.Unix() != 0 || !bytes.Equal(e[0].Ticket, c.Ticket) ||
		!bytes.Equal(e[0].TicketFlags.Bytes, []byte{0x40, 0xa1, 0, 0}) || e[0].Key.KeyType != 18 {
		t.Fatalf("read back %+v", e[0])
	}
	// The key never shows in a printed credential.
	if s := strings.Join([]string{c.String(), c.GoString()}, " "); strings.Contains(s, "7 7 7") || !strings.Contains(s, "jdoe@EXAMPLE.TEST") {
		t.Errorf("printed: %s", s)
	}
	if _, err := Marshal(jdoe, []Credential{{Client: jdoe}}); err == nil {
		t.Error("a credential without a ticket was written")
	}
}
