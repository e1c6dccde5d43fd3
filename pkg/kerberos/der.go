package kerberos

import "time"

// derWriter writes DER from the end of its buffer toward the front: an
// element's content goes in before its header, so every length is known
// when the header is written. Why not cryptobyte.Builder, as elsewhere:
// it allocates a child builder and a closure for every element, 24
// allocations and a tenth of a login's CPU for the AP-REP's dozen small
// elements. Only the AP-REP uses it; aprep_test.go checks its bytes
// against gokrb5's encoder, FuzzAPRepDER for any values.
type derWriter struct {
	b   []byte
	pos int // b[pos:] is what has been written
}

// newDERWriter returns a writer with room for n bytes; it grows if needed.
func newDERWriter(n int) derWriter { return derWriter{b: make([]byte, n), pos: n} }

// mark is where the element about to be written ends, for wrap.
func (w *derWriter) mark() int { return len(w.b) - w.pos }

func (w *derWriter) room(n int) {
	if n <= w.pos {
		return
	}
	used := len(w.b) - w.pos
	nb := make([]byte, 2*len(w.b)+n)
	copy(nb[len(nb)-used:], w.b[w.pos:])
	w.b, w.pos = nb, len(nb)-used
}

func (w *derWriter) raw(p ...byte) {
	w.room(len(p))
	w.pos -= len(p)
	copy(w.b[w.pos:], p)
}

// wrap writes the header of tag around what was written since mark m.
// Lengths from 4 GiB on are not written right (cryptobyte would refuse
// them): an AP-REP is about a hundred bytes.
func (w *derWriter) wrap(tag byte, m int) {
	n := w.mark() - m
	switch {
	case n < 0x80:
		w.raw(tag, byte(n))
	case n <= 0xff:
		w.raw(tag, 0x81, byte(n))
	case n <= 0xffff:
		w.raw(tag, 0x82, byte(n>>8), byte(n))
	case n <= 0xffffff:
		w.raw(tag, 0x83, byte(n>>16), byte(n>>8), byte(n))
	default:
		w.raw(tag, 0x84, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
}

// integer writes an INTEGER: two's complement, in as few bytes as DER
// wants (no leading 0x00 or 0xff that the next byte's sign makes
// redundant).
func (w *derWriter) integer(v int64) {
	m := w.mark()
	for {
		w.raw(byte(v))
		next := v >> 8
		if (next == 0 && byte(v)&0x80 == 0) || (next == -1 && byte(v)&0x80 != 0) {
			break
		}
		v = next
	}
	w.wrap(0x02, m)
}

// explicitInt writes [n] EXPLICIT INTEGER.
func (w *derWriter) explicitInt(n byte, v int64) {
	m := w.mark()
	w.integer(v)
	w.wrap(ctxConstructed|n, m)
}

// generalizedTime writes t as a GeneralizedTime in UTC, whole seconds, the
// form RFC 4120's KerberosTime takes. t must have a four-digit year: the
// AP-REP echoes a time decoded from a GeneralizedTime, which has one.
func (w *derWriter) generalizedTime(t time.Time) {
	var buf [len("20060102150405Z")]byte
	s := t.UTC().AppendFormat(buf[:0], "20060102150405Z")
	m := w.mark()
	w.raw(s...)
	w.wrap(0x18, m)
}

func (w *derWriter) bytes() []byte { return w.b[w.pos:] }

const (
	ctxConstructed = 0xa0 // context-specific, constructed: [n] EXPLICIT
	tagSequence    = 0x30
	tagOctetString = 0x04
)
