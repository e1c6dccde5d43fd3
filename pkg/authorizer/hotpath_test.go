package authorizer

import (
	"testing"
	"time"

	"github.com/goauthenntlm/goauthenntlm/pkg/conntable"
)

// BenchmarkHotPath is a later request on an authenticated connection: the
// call Apache makes for nearly every request.
func BenchmarkHotPath(b *testing.B) {
	a := newTest(b, "")
	p := params("")
	k, _ := connKey(p)
	a.table.SetAuthenticated(k, conntable.Login{User: "jdoe", Domain: "EXAMPLE", At: time.Now()})
	b.ReportAllocs()
	for b.Loop() {
		if r := serve(a, p); r.Status != 200 {
			b.Fatal(r.Status)
		}
	}
}
