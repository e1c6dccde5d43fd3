package ntlmmsg_test

import (
	"encoding/hex"
	"fmt"
	"log"
	"time"

	"github.com/goauthenntlm/goauthenntlm/pkg/ntlmmsg"
)

// A relay dispatches on the message type and decodes accordingly.
func ExampleType() {
	raw, _ := hex.DecodeString("4e544c4d53535000020000000c000c003800000033828ae20123456789abcdef" +
		"00000000000000002400240044000000060070170000000f5300650072007600" +
		"6500720002000c0044006f006d00610069006e0001000c005300650072007600" +
		"6500720000000000") // MS-NLMP 4.2.4.3
	t, err := ntlmmsg.Type(raw)
	if err != nil {
		log.Fatal(err)
	}
	switch t {
	case ntlmmsg.TypeChallenge:
		ch, err := ntlmmsg.ParseChallenge(raw)
		if err != nil {
			log.Fatal(err)
		}
		av, _ := ch.AVPairs()
		fmt.Println(t, ch.TargetName, av.String(ntlmmsg.MsvAvNbDomainName))
		fmt.Println(ch.Flags)
	}
	// Output:
	// CHALLENGE Server Domain
	// Unicode|OEM|Sign|Seal|NTLM|AlwaysSign|TargetTypeServer|ExtendedSessionSecurity|TargetInfo|Version|128|KeyExchange|56
}

// HTTP Basic credentials are turned into an AUTHENTICATE for the challenge
// the domain controller issued. Real callers pass crypto/rand bytes and
// time.Now.
func ExampleNewAuthenticateV2() {
	ch := &ntlmmsg.Challenge{
		Flags:           ntlmmsg.NegotiateUnicode | ntlmmsg.NegotiateNTLM | ntlmmsg.TargetInfo,
		ServerChallenge: [8]byte{1, 2, 3, 4, 5, 6, 7, 8},
		TargetInfo:      ntlmmsg.AVPairs{}.Marshal(),
	}
	var clientChallenge [8]byte // from crypto/rand
	m, _, err := ntlmmsg.NewAuthenticateV2(ch, "jdoe", "CORP", "secret", "WEB1", clientChallenge, time.Unix(0, 0))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(m)
	// Output:
	// [type=AUTHENTICATE flags=Unicode|NTLM|TargetInfo domain=CORP user=jdoe workstation=WEB1 version=none lm_response_len=24 nt_response_len=52 ntlmv2=true session_key_len=0 mic_len=0]
}
