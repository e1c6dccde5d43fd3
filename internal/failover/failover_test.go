package failover

import (
	"slices"
	"testing"
	"time"
)

type server struct {
	name string
	mark Mark
}

func names(ss []*server) []string {
	var n []string
	for _, s := range ss {
		n = append(n, s.name)
	}
	return n
}

func TestOrder(t *testing.T) {
	a, b, c := &server{name: "a"}, &server{name: "b"}, &server{name: "c"}
	list := []*server{a, b, c}
	order := func() []string { return names(Order(list, func(s *server) *Mark { return &s.mark })) }
	if got := order(); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("all up: %v", got)
	}
	if !a.mark.Down(time.Hour) || a.mark.Down(time.Hour) {
		t.Error("Down reports the change only the first time")
	}
	c.mark.Down(time.Hour)
	if got := order(); !slices.Equal(got, []string{"b", "a", "c"}) {
		t.Errorf("a and c down: %v", got)
	}
	b.mark.Down(time.Hour)
	if got := order(); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("all down: still all tried, in order: %v", got)
	}
	if !a.mark.Up() || a.mark.Up() {
		t.Error("Up reports the recovery only the first time")
	}
	// An expired mark no longer moves the server, and a new Down after it
	// is a change again (logged again), while Up still reports it.
	b.mark.Down(-time.Second)
	if b.mark.IsDown(time.Now()) || !b.mark.Down(time.Hour) {
		t.Error("expired mark")
	}
	b.mark.Down(-time.Second)
	if !b.mark.Up() {
		t.Error("Up after an expired mark reports nothing")
	}
}
