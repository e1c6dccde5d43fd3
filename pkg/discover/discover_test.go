package discover

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/goauthenntlm/goauthenntlm/pkg/config"
)

// fakeDNS answers SRV and A questions from srv and a, over UDP on
// loopback, until the test ends.
func fakeDNS(t *testing.T, srv map[string][]dnsmessage.SRVResource, a map[string]string) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			var p dnsmessage.Parser
			h, err := p.Start(buf[:n])
			if err != nil {
				continue
			}
			q, err := p.Question()
			if err != nil {
				continue
			}
			b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true})
			b.EnableCompression()
			b.StartQuestions()
			b.Question(q)
			b.StartAnswers()
			name := strings.ToLower(q.Name.String())
			rh := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60}
			switch q.Type {
			case dnsmessage.TypeSRV:
				for _, r := range srv[name] {
					b.SRVResource(rh, r)
				}
			case dnsmessage.TypeA:
				if ip, ok := a[name]; ok {
					b.AResource(rh, dnsmessage.AResource{A: netip.MustParseAddr(ip).As4()})
				}
			}
			msg, err := b.Finish()
			if err == nil {
				pc.WriteTo(msg, from)
			}
		}
	}()
	return pc.LocalAddr().String()
}

func srvTo(target string, prio, weight uint16) dnsmessage.SRVResource {
	return dnsmessage.SRVResource{Priority: prio, Weight: weight, Port: 389, Target: dnsmessage.MustNewName(target)}
}

const srvName = "_ldap._tcp.dc._msdcs.example.test."

func TestApply(t *testing.T) {
	server := fakeDNS(t, map[string][]dnsmessage.SRVResource{
		// The backup is listed first: priority decides, not the order.
		srvName: {srvTo("dc2.example.test.", 10, 100), srvTo("dc1.example.test.", 0, 100)},
	}, map[string]string{"dc1.example.test.": "127.0.0.21", "dc2.example.test.": "127.0.0.22"})
	cfg, err := config.Parse("t.toml", []byte(`
[auth]
name_format = "logon"

[[domain]]
name = "EXAMPLE"
dns_name = "example.test"
ldap_base_dn = "DC=example,DC=test"
ldap_bind_user = "svc"
ldap_bind_password_file = "p"

[[domain]]
name = "OTHER"
dns_name = "other.test"
dcs = ["10.0.0.1"]
`))
	if err != nil {
		t.Fatal(err)
	}
	if !Needed(cfg) {
		t.Fatal("Needed = false")
	}
	got, err := Apply(context.Background(), NewResolver(server, time.Second), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if d := got.Domains[0]; strings.Join(d.DCs, " ") != "127.0.0.21:445 127.0.0.22:445" ||
		strings.Join(d.LDAPURLs, " ") != "ldaps://127.0.0.21:636 ldaps://127.0.0.22:636" {
		t.Errorf("EXAMPLE: dcs %v, ldap_urls %v", d.DCs, d.LDAPURLs)
	}
	if d := got.Domains[1]; strings.Join(d.DCs, " ") != "10.0.0.1" {
		t.Errorf("OTHER (dcs given) changed: %v", d.DCs)
	}
	if len(cfg.Domains[0].DCs) != 0 {
		t.Error("Apply changed its input")
	}
	if !Same(got, got) || Same(got, cfg) {
		t.Error("Same")
	}
	// Another order of the same DCs (equal priorities come shuffled by
	// weight) is the same; one DC less is not.
	swapped := *got
	swapped.Domains = append([]config.Domain(nil), got.Domains...)
	swapped.Domains[0].DCs = []string{"127.0.0.22:445", "127.0.0.21:445"}
	if !Same(got, &swapped) {
		t.Error("reordered DCs: not Same")
	}
	swapped.Domains[0].DCs = swapped.Domains[0].DCs[:1]
	if Same(got, &swapped) {
		t.Error("one DC gone: Same")
	}
}

func TestNoDC(t *testing.T) {
	server := fakeDNS(t, map[string][]dnsmessage.SRVResource{}, nil)
	_, err := NewResolver(server, time.Second).DCs(context.Background(), "example.test")
	if err == nil || !strings.Contains(err.Error(), "DCs of example.test in DNS") {
		t.Errorf("no records: %v", err)
	}
}

func TestConfigNeedsDCsOrDNSName(t *testing.T) {
	_, err := config.Parse("t.toml", []byte("[[domain]]\nname = \"EXAMPLE\"\n"))
	if err == nil || !strings.Contains(err.Error(), "or dns_name to find them in DNS") {
		t.Errorf("neither dcs nor dns_name: %v", err)
	}
}
