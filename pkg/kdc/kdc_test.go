package kdc

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/iana/msgtype"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/iana/patype"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
)

// fakeKDC is a KDC of realm EXAMPLE.TEST with one user, over TCP framing,
// built from gokrb5's message types: enough to check this package's side
// of the exchanges (salt, timestamp, nonces, decryption, errors) without
// a DC. The e2e and integration tests talk to Samba's real KDC.
type fakeKDC struct {
	t        *testing.T
	user     string
	salt     string
	password string
	// authTimeShift moves the AS-REP's authtime (a KDC with another clock).
	authTimeShift time.Duration
	// forge makes the AS-REP unreadable with the user's key (someone who
	// is not the KDC answering).
	forge bool
	// refuse, when set, is the KRB-ERROR code (and e-data) for any AS-REQ.
	refuse      int32
	refuseEData []byte

	mu         sync.Mutex
	sessionKey types.EncryptionKey
	lastTGS    messages.TGSReq
}

func (f *fakeKDC) userKey(t *testing.T) types.EncryptionKey {
	k, _, err := crypto.GetKeyFromPassword(f.password, types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, f.user), "EXAMPLE.TEST", etypeID.AES256_CTS_HMAC_SHA1_96,
		types.PADataSequence{{PADataType: patype.PA_PW_SALT, PADataValue: []byte(f.salt)}})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func (f *fakeKDC) krbError(code int32, edata []byte) []byte {
	e := messages.NewKRBError(types.NewPrincipalName(nametype.KRB_NT_SRV_INST, "krbtgt/EXAMPLE.TEST"), "EXAMPLE.TEST", code, "")
	e.EData = edata
	b, err := e.Marshal()
	if err != nil {
		f.t.Fatal(err)
	}
	return b
}

func (f *fakeKDC) serve(req []byte) []byte {
	t := f.t
	if req[0] == 0x6c { // TGS-REQ
		return f.tgs(req)
	}
	var as messages.ASReq
	if err := as.Unmarshal(req); err != nil {
		t.Errorf("fake KDC: AS-REQ: %v", err)
		return f.krbError(errorcode.KRB_ERR_GENERIC, nil)
	}
	for _, e := range as.ReqBody.EType {
		if e != etypeID.AES256_CTS_HMAC_SHA1_96 && e != etypeID.AES128_CTS_HMAC_SHA1_96 {
			t.Errorf("AS-REQ asks for etype %d", e)
		}
	}
	if f.refuse != 0 {
		return f.krbError(f.refuse, f.refuseEData)
	}
	if !strings.EqualFold(as.ReqBody.CName.PrincipalNameString(), f.user) {
		return f.krbError(errorcode.KDC_ERR_C_PRINCIPAL_UNKNOWN, nil)
	}
	key := f.userKey(t)
	var ts []byte
	for _, pa := range as.PAData {
		if pa.PADataType == patype.PA_ENC_TIMESTAMP {
			ts = pa.PADataValue
		}
	}
	if ts == nil {
		info, _ := asn1.Marshal(types.ETypeInfo2{{EType: etypeID.AES256_CTS_HMAC_SHA1_96, Salt: f.salt}})
		ed, _ := asn1.Marshal(types.PADataSequence{{PADataType: patype.PA_ETYPE_INFO2, PADataValue: info}})
		return f.krbError(errorcode.KDC_ERR_PREAUTH_REQUIRED, ed)
	}
	var enc types.EncryptedData
	if err := enc.Unmarshal(ts); err != nil {
		t.Errorf("PA-ENC-TIMESTAMP: %v", err)
	}
	if _, err := crypto.DecryptEncPart(enc, key, keyusage.AS_REQ_PA_ENC_TIMESTAMP); err != nil {
		return f.krbError(errorcode.KDC_ERR_PREAUTH_FAILED, nil)
	}
	sk := types.EncryptionKey{KeyType: etypeID.AES256_CTS_HMAC_SHA1_96, KeyValue: bytes.Repeat([]byte{7}, 32)}
	f.mu.Lock()
	f.sessionKey = sk
	f.mu.Unlock()
	now := time.Now().UTC().Truncate(time.Second)
	part := messages.EncKDCRepPart{Key: sk, Nonce: as.ReqBody.Nonce, Flags: types.NewKrbFlags(), AuthTime: now.Add(f.authTimeShift),
		EndTime: now.Add(10 * time.Hour), SRealm: "EXAMPLE.TEST", SName: as.ReqBody.SName, LastReqs: []messages.LastReq{}}
	pb, err := part.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if f.forge {
		key.KeyValue = bytes.Repeat([]byte{1}, 32)
	}
	encPart, err := crypto.GetEncryptedData(pb, key, keyusage.AS_REP_ENCPART, 1)
	if err != nil {
		t.Fatal(err)
	}
	rep := messages.ASRep{KDCRepFields: messages.KDCRepFields{PVNO: 5, MsgType: msgtype.KRB_AS_REP, CRealm: "EXAMPLE.TEST",
		CName: types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, f.user), Ticket: fakeTicket(as.ReqBody.SName), EncPart: encPart}}
	b, err := rep.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func fakeTicket(sname types.PrincipalName) messages.Ticket {
	return messages.Ticket{TktVNO: 5, Realm: "EXAMPLE.TEST", SName: sname,
		EncPart: types.EncryptedData{EType: etypeID.AES256_CTS_HMAC_SHA1_96, KVNO: 2, Cipher: bytes.Repeat([]byte{9}, 64)}}
}

func (f *fakeKDC) tgs(req []byte) []byte {
	t := f.t
	var tr messages.TGSReq
	if err := tr.Unmarshal(req); err != nil {
		t.Errorf("fake KDC: TGS-REQ: %v", err)
		return f.krbError(errorcode.KRB_ERR_GENERIC, nil)
	}
	f.mu.Lock()
	f.lastTGS = tr
	sk := f.sessionKey
	f.mu.Unlock()
	if len(tr.PAData) == 0 || tr.PAData[0].PADataType != patype.PA_TGS_REQ {
		t.Errorf("TGS-REQ without PA-TGS-REQ first")
	}
	var ap messages.APReq
	if err := ap.Unmarshal(tr.PAData[0].PADataValue); err != nil || ap.DecryptAuthenticator(sk) != nil {
		t.Errorf("PA-TGS-REQ: %v", err)
	}
	if tr.ReqBody.SName.PrincipalNameString() == "HTTP/unknown.example.test" {
		return f.krbError(errorcode.KDC_ERR_S_PRINCIPAL_UNKNOWN, nil)
	}
	now := time.Now().UTC().Truncate(time.Second)
	svc := types.EncryptionKey{KeyType: etypeID.AES256_CTS_HMAC_SHA1_96, KeyValue: bytes.Repeat([]byte{8}, 32)}
	part := messages.EncKDCRepPart{Key: svc, Nonce: tr.ReqBody.Nonce, Flags: types.NewKrbFlags(), AuthTime: now,
		EndTime: now.Add(10 * time.Hour), SRealm: "EXAMPLE.TEST", SName: tr.ReqBody.SName, LastReqs: []messages.LastReq{}}
	pb, _ := part.Marshal()
	encPart, _ := crypto.GetEncryptedData(pb, sk, keyusage.TGS_REP_ENCPART_SESSION_KEY, 0)
	rep := messages.TGSRep{KDCRepFields: messages.KDCRepFields{PVNO: 5, MsgType: msgtype.KRB_TGS_REP, CRealm: "EXAMPLE.TEST",
		CName: types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, f.user), Ticket: fakeTicket(tr.ReqBody.SName), EncPart: encPart}}
	b, err := rep.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// listen serves handle on a loopback port: one request per connection.
func listen(t *testing.T, handle func(req []byte) []byte) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				var hdr [4]byte
				if _, err := io.ReadFull(c, hdr[:]); err != nil {
					return
				}
				req := make([]byte, binary.BigEndian.Uint32(hdr[:]))
				if _, err := io.ReadFull(c, req); err != nil {
					return
				}
				rep := handle(req)
				if rep == nil {
					time.Sleep(10 * time.Second) // a KDC that never answers
					return
				}
				binary.BigEndian.PutUint32(hdr[:], uint32(len(rep)))
				c.Write(append(hdr[:], rep...))
			}()
		}
	}()
	return l.Addr().String()
}

// client talks to addrs (host:port, the port kept: Addr is tested apart).
func client(addrs ...string) *Client {
	c := New(Config{Realm: "example.test", Timeout: 2 * time.Second})
	c.kdcs = addrs
	return c
}

func newFake(t *testing.T) *fakeKDC {
	return &fakeKDC{t: t, user: "jdoe", salt: "EXAMPLE.TESTjdoe", password: "Secr3t!Pass"}
}

func TestLoginAndServiceTicket(t *testing.T) {
	f := newFake(t)
	c := client(listen(t, f.serve))
	ctx := context.Background()
	tgt, err := c.Login(ctx, User{Name: "jdoe"}, "Secr3t!Pass")
	if err != nil {
		t.Fatalf("Login: %v", err)
	}
	if tgt.ClientName() != "jdoe@EXAMPLE.TEST" || tgt.Key.KeyValue[0] != 7 {
		t.Errorf("TGT for %s", tgt.ClientName())
	}
	st, err := c.ServiceTicket(ctx, tgt, "HTTP/www.example.test")
	if err != nil {
		t.Fatalf("ServiceTicket: %v", err)
	}
	if st.Ticket.SName.PrincipalNameString() != "HTTP/www.example.test" || st.Key.KeyValue[0] != 8 {
		t.Errorf("service ticket for %s", st.Ticket.SName.PrincipalNameString())
	}
	// What S4U adds to a TGS-REQ reaches the KDC after PA-TGS-REQ.
	extra := types.PAData{PADataType: patype.PA_FOR_USER, PADataValue: []byte{0x30, 0}}
	if _, err := c.TGS(ctx, tgt, TGSRequest{Service: types.NewPrincipalName(nametype.KRB_NT_SRV_INST, "HTTP/www.example.test"),
		PAData: types.PADataSequence{extra}, AdditionalTickets: []messages.Ticket{st.Ticket}}); err != nil {
		t.Fatalf("TGS with PA-FOR-USER: %v", err)
	}
	got := f.lastTGS
	if len(got.PAData) != 2 || got.PAData[1].PADataType != patype.PA_FOR_USER || len(got.ReqBody.AdditionalTickets) != 1 {
		t.Errorf("TGS-REQ PA-DATA %+v, %d additional tickets", got.PAData, len(got.ReqBody.AdditionalTickets))
	}
	if _, err := c.ServiceTicket(ctx, tgt, "HTTP/unknown.example.test"); CauseOf(err) != CauseService {
		t.Errorf("unknown SPN: %v", err)
	}
}

func TestLoginRefusals(t *testing.T) {
	edata := func(status uint32) []byte {
		v := make([]byte, 12)
		binary.LittleEndian.PutUint32(v, status)
		binary.LittleEndian.PutUint32(v[8:], 1)
		b, _ := asn1.Marshal(types.PADataSequence{{PADataType: patype.PA_PW_SALT, PADataValue: v}})
		return b
	}
	for _, tc := range []struct {
		name     string
		user     string
		password string
		setup    func(*fakeKDC)
		want     Cause
	}{
		{"wrong password", "jdoe", "nope", nil, CauseCredentials},
		{"unknown user", "nobody", "Secr3t!Pass", nil, CauseCredentials},
		{"empty password", "jdoe", "", nil, CauseCredentials},
		{"disabled", "jdoe", "Secr3t!Pass", func(f *fakeKDC) {
			f.refuse, f.refuseEData = errorcode.KDC_ERR_CLIENT_REVOKED, edata(StatusAccountDisabled)
		}, CauseDisabled},
		{"expired", "jdoe", "Secr3t!Pass", func(f *fakeKDC) {
			f.refuse, f.refuseEData = errorcode.KDC_ERR_CLIENT_REVOKED, edata(StatusAccountExpired)
		}, CauseAccountExpired},
		{"locked, Windows", "jdoe", "Secr3t!Pass", func(f *fakeKDC) {
			f.refuse, f.refuseEData = errorcode.KDC_ERR_CLIENT_REVOKED, edata(StatusAccountLockedOut)
		}, CauseLocked},
		{"locked, Samba (no status)", "jdoe", "Secr3t!Pass", func(f *fakeKDC) { f.refuse = errorcode.KDC_ERR_CLIENT_REVOKED }, CauseLocked},
		{"must change", "jdoe", "Secr3t!Pass", func(f *fakeKDC) {
			f.refuse, f.refuseEData = errorcode.KDC_ERR_KEY_EXPIRED, edata(StatusPasswordMustChange)
		}, CauseMustChange},
		{"password expired", "jdoe", "Secr3t!Pass", func(f *fakeKDC) { f.refuse = errorcode.KDC_ERR_KEY_EXPIRED }, CausePasswordExpired},
		{"KDC says skew", "jdoe", "Secr3t!Pass", func(f *fakeKDC) { f.refuse = errorcode.KRB_AP_ERR_SKEW }, CauseSkew},
		{"our clock differs", "jdoe", "Secr3t!Pass", func(f *fakeKDC) { f.authTimeShift = time.Hour }, CauseSkew},
		{"no AES key", "jdoe", "Secr3t!Pass", func(f *fakeKDC) { f.refuse = errorcode.KDC_ERR_ETYPE_NOSUPP }, CauseEnctype},
		{"forged reply", "jdoe", "Secr3t!Pass", func(f *fakeKDC) { f.forge = true }, CauseProtocol},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			if tc.setup != nil {
				tc.setup(f)
			}
			_, err := client(listen(t, f.serve)).Login(context.Background(), User{Name: tc.user}, tc.password)
			if got := CauseOf(err); got != tc.want {
				t.Fatalf("Login: %v, want cause %s", err, tc.want)
			}
			if strings.Contains(err.Error(), tc.password) && tc.password != "" {
				t.Errorf("the error %q shows the password", err)
			}
		})
	}
}

func TestUnreachable(t *testing.T) {
	// A port nobody listens on, then a KDC that never answers: the
	// context's deadline ends the wait.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := l.Addr().String()
	l.Close()
	silent := listen(t, func([]byte) []byte { return nil })
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := client(closed, silent).Login(ctx, User{Name: "jdoe"}, "x")
	var e *Error
	if !errors.As(err, &e) || e.Cause != CauseUnreachable {
		t.Fatalf("Login: %v, want %s", err, CauseUnreachable)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %s despite a 300ms deadline", d)
	}
	// The second KDC serves when the first is down.
	f := newFake(t)
	if _, err := client(closed, listen(t, f.serve)).Login(context.Background(), User{Name: "jdoe"}, "Secr3t!Pass"); err != nil {
		t.Errorf("failover to the second KDC: %v", err)
	}
	if _, _, err := New(Config{Realm: "X"}).exchange(context.Background(), []byte{1}); CauseOf(err) != CauseUnreachable {
		t.Errorf("no KDC configured: %v", err)
	}
}

func TestReplyBound(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.ReadFull(c, make([]byte, 5))
		c.Write([]byte{0x7f, 0xff, 0xff, 0xff}) // 2 GiB announced
		time.Sleep(time.Second)
	}()
	_, err = client(l.Addr().String()).roundTrip(context.Background(), l.Addr().String(), []byte{1})
	if err == nil || !strings.Contains(err.Error(), "out of bounds") {
		t.Errorf("roundTrip: %v, want a refused length", err)
	}
}

func TestAddr(t *testing.T) {
	for in, want := range map[string]string{"dc1.example.test": "dc1.example.test:88", "10.0.0.1:445": "10.0.0.1:88", "[::1]:389": "[::1]:88", "::1": "[::1]:88"} {
		if got := Addr(in); got != want {
			t.Errorf("Addr(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNTStatus(t *testing.T) {
	ext := make([]byte, 12)
	binary.LittleEndian.PutUint32(ext, StatusAccountDisabled)
	kerbErr, _ := asn1.Marshal(kerbErrorData{DataType: kerbErrTypeExtended, DataValue: ext})
	pas, _ := asn1.Marshal(types.PADataSequence{{PADataType: patype.PA_PW_SALT, PADataValue: ext}})
	for name, tc := range map[string]struct {
		b    []byte
		want uint32
	}{
		"METHOD-DATA": {pas, StatusAccountDisabled}, "KERB-ERROR-DATA": {kerbErr, StatusAccountDisabled},
		"empty": {nil, 0}, "garbage": {[]byte{0x30, 0x80, 1}, 0},
	} {
		if got := ntStatus(tc.b); got != tc.want {
			t.Errorf("%s: %#x, want %#x", name, got, tc.want)
		}
	}
}

func FuzzNTStatus(f *testing.F) {
	f.Add([]byte{0x30, 0x03, 0x02, 0x01, 0x03})
	f.Fuzz(func(t *testing.T, b []byte) { ntStatus(b) })
}
