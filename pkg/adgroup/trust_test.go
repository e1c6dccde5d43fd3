package adgroup

import "testing"

func TestTrustNames(t *testing.T) {
	tr := Trust{FlatName: "TRUSTEDCORP", Partner: "trustedcorp.example", Attributes: 0x4}
	for _, tt := range []struct {
		domain string
		want   bool
	}{{"trustedcorp", true}, {"TrustedCorp.Example", true}, {"EXAMPLE", false}, {"", false}, {"trustedcorp.example.", false}} {
		if got := tr.Names(tt.domain); got != tt.want {
			t.Errorf("Names(%q) = %v", tt.domain, got)
		}
	}
	if tr.Routes() {
		t.Error("an external trust routes other names")
	}
	if !(Trust{Attributes: trustForestTransitive}).Routes() || !(Trust{Attributes: trustWithinForest}).Routes() {
		t.Error("forest trusts route other names")
	}
	if (Trust{FlatName: "X"}).Names("") {
		t.Error("empty name matched")
	}
	if r := trustSearch("DC=example,DC=test"); r.BaseDN != "CN=System,DC=example,DC=test" || r.SizeLimit != maxTrusts {
		t.Errorf("search %+v", r)
	}
}
