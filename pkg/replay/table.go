package replay

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"sync"
	"time"
)

// DefaultSlots is a Table's size unless Options say otherwise: 1<<20
// slots of 32 bytes, 32 MiB (in a file: mapped, so the same 32 MiB of
// page cache). Entries live until their authenticator's time plus
// max_clock_skew, about max_clock_skew for a client with a good clock, at
// most twice it; with the default 5 minutes, 1,000 logins a second hold
// 300,000 to 600,000 slots, under the pressure mark (3/4 of the slots).
const DefaultSlots = 1 << 20

// The layout, in memory and in the file alike: a header page, then the
// slots. A slot is tag (16 bytes: the Key hashed with the table's seed),
// the principal's counter key (8) and until (8, Unix nanoseconds, little
// endian; 0: free). Slots come in buckets of 8 (256 bytes); a key may sit
// in either of two buckets its tag chooses (two-choice hashing keeps the
// table usable past 90% full), so a lookup reads 512 bytes.
//
// The design is MIT krb5's rcache2 (src/lib/krb5/rcache/rc_file2.c):
// fixed-size hashed slots in a file, a tag rather than the authenticator,
// the slot chosen under a random seed kept in the file (rcache2: SipHash;
// here AES), an expired slot free for reuse, no fsync per authenticator.
// Unlike it the table has a fixed size (rcache2 appends tables of twice
// the size, up to 2 GiB, when a slot pair is full), counts each account's
// slots, and is one process's (rcache2 opens and locks the file per
// operation, for several processes): here every operation is one lookup
// in a mapping under a mutex, and the file is locked once, for the
// daemon's life.
const (
	headerSize  = 4096
	slotSize    = 32
	bucketSlots = 8
	minSlots    = 64
	maxSlots    = 1 << 26 // 2 GiB: past any sensible cache
	magic       = "GANTLMRC"
	version     = 1
)

// Options configure a Table.
type Options struct {
	// Slots is the table's size, a power of two (0: DefaultSlots). A file
	// keeps the size it was made with.
	Slots int
	// SyncEvery is how often a file's changes are flushed to disk (0: 1s).
	SyncEvery time.Duration
	// Now replaces time.Now in tests.
	Now func() time.Time
}

// Table is a Store in a fixed table of slots: memory bounded by its size
// (slots times 32 bytes, plus one counter per principal holding a live
// slot), and, opened with Open, kept in a file.
//
// Every principal's live slots are counted. Past 3/4 of the slots in use
// (the pressure mark) a principal holding more than twice the average
// share (and, among fewer than four, more than half) is refused, so that
// the accounts making logins in bulk pay first and the others still log
// in; past 7/8 (or when both of a key's buckets
// are full) every new key is refused: forgetting a live one would let its
// replay pass.
type Table struct {
	mu       sync.Mutex
	data     []byte // header and slots: a file's mapping, or memory
	slots    []byte // data[headerSize:]; nil once closed
	nslots   int
	mask     uint64 // buckets - 1
	seed     [32]byte
	block    cipher.Block // AES under seed[:16], for tag
	live     int          // slots with until != 0 (expired ones not yet swept too)
	held     map[uint64]int32
	pressure int // live count past which the heaviest are refused
	full     int // live count past which all are
	cursor   int // the next slot the incremental sweep looks at
	swept    int64
	now      func() time.Time
	file     *file // nil: memory only
}

// New returns an empty Table in memory only: it does not survive a
// restart (Open's does).
func New(o Options) *Table {
	n := o.slots()
	t := newTable(make([]byte, headerSize+n*slotSize), o)
	t.format(n)
	return t
}

func (o Options) slots() int {
	n := o.Slots
	if n <= 0 {
		return DefaultSlots
	}
	p := minSlots
	for p < n && p < maxSlots {
		p <<= 1
	}
	return p
}

func newTable(data []byte, o Options) *Table {
	t := &Table{data: data, now: o.Now, held: map[uint64]int32{}}
	if t.now == nil {
		t.now = time.Now
	}
	return t
}

// format writes a fresh header (a new seed) for n slots, all free (the
// data is zeros: new memory, or a file truncated to nothing first).
func (t *Table) format(n int) {
	if _, err := rand.Read(t.seed[:]); err != nil {
		panic("replay: no randomness: " + err.Error()) // crypto/rand does not fail on Linux
	}
	t.keyed()
	h := t.data[:headerSize]
	binary.LittleEndian.PutUint32(h[8:], version)
	binary.LittleEndian.PutUint32(h[12:], uint32(n))
	copy(h[16:48], t.seed[:])
	copy(h[:8], magic) // last: a header without it is not one
	t.attach(n)
}

// keyed makes the tag's cipher of the seed.
func (t *Table) keyed() {
	b, err := aes.NewCipher(t.seed[:16])
	if err != nil {
		panic(err) // a 16-byte key always makes one
	}
	t.block = b
}

// attach points the table at its slots.
func (t *Table) attach(n int) {
	t.nslots = n
	t.slots = t.data[headerSize : headerSize+n*slotSize]
	t.mask = uint64(n/bucketSlots - 1)
	t.pressure = n / 4 * 3
	t.full = n / 8 * 7
}

// Add is Store's Add. The key is in the table (in the file's mapping,
// which a crash of the process does not lose) before it returns nil.
func (t *Table) Add(ctx context.Context, key Key, principal string, until time.Time) error {
	tag := t.tag(key)
	ph := t.principalHash(principal)
	u := until.UnixNano()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.slots == nil {
		return ErrClosed
	}
	now := t.now().UnixNano()
	// Sweeping a few slots per Add visits the whole table every
	// nslots/sweepPerAdd Adds (the counts follow expiry at busy times,
	// when they matter), with no goroutine and no pause.
	t.sweep(now, sweepPerAdd)
	b1, b2 := t.buckets(tag)
	if t.lookup(b1, tag, now) || t.lookup(b2, tag, now) {
		return ErrReplay
	}
	if t.live >= t.pressure && now-t.swept > int64(time.Second) {
		t.swept = now
		t.sweep(now, t.nslots)
	}
	held := int(t.held[ph])
	switch {
	case t.live >= t.full:
		return &BusyError{Live: t.live, Held: held}
	case t.live >= t.pressure && (held+1)*max(len(t.held), 4) > 2*t.live:
		return &BusyError{Heavy: true, Live: t.live, Held: held}
	}
	s := t.free(b1, b2, now)
	if s == nil {
		return &BusyError{Live: t.live, Held: held}
	}
	// The tag last: a crash between these writes leaves either a free
	// slot or an old tag kept longer, never a live slot under a wrong
	// tag that a replay could pass.
	binary.LittleEndian.PutUint64(s[16:24], ph)
	binary.LittleEndian.PutUint64(s[24:32], uint64(u))
	copy(s[:16], tag[:])
	t.live++
	t.held[ph]++
	if t.file != nil {
		t.file.dirty = true
	}
	return nil
}

// sweepPerAdd: 8 slots (256 bytes) per Add; the default table is swept
// through every 131,072 Adds.
const sweepPerAdd = 8

// Len is how many slots are in use (live, or expired and not yet swept).
func (t *Table) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.live
}

// Slots is the table's size.
func (t *Table) Slots() int { return t.nslots }

// tag is key under the table's seed: where a key sits cannot be chosen by
// someone who does not know the seed (one who could would fill a victim's
// buckets). One AES block of the key's halves folded: the key is a
// SHA-256 already, so a fold collision is a 128-bit collision, and AES is
// a keyed permutation at a few nanoseconds, where another SHA-256 would
// cost the login a few hundred.
func (t *Table) tag(k Key) (tag [16]byte) {
	var in [16]byte
	subtle.XORBytes(in[:], k[:16], k[16:])
	t.block.Encrypt(tag[:], in[:])
	return tag
}

// principalHash is principal's counter key: FNV-1a from a seeded start.
// Two accounts that collide only share a count.
func (t *Table) principalHash(p string) uint64 {
	// By hand rather than hash/fnv, whose interface value and []byte(p)
	// cost the login two allocations.
	const offset, prime = 14695981039346656037, 1099511628211
	h := uint64(offset)
	for _, c := range t.seed[16:32] {
		h = (h ^ uint64(c)) * prime
	}
	for i := 0; i < len(p); i++ {
		h = (h ^ uint64(p[i])) * prime
	}
	return h
}

// buckets are tag's two buckets' first slot indexes.
func (t *Table) buckets(tag [16]byte) (int, int) {
	b1 := binary.LittleEndian.Uint64(tag[:8]) & t.mask
	b2 := binary.LittleEndian.Uint64(tag[8:]) & t.mask
	if b2 == b1 {
		b2 ^= 1 & t.mask
	}
	return int(b1) * bucketSlots, int(b2) * bucketSlots
}

func (t *Table) slot(i int) []byte { return t.slots[i*slotSize : (i+1)*slotSize : (i+1)*slotSize] }

func until(s []byte) int64 { return int64(binary.LittleEndian.Uint64(s[24:32])) }

// lookup reports whether the bucket from first holds tag live; it frees
// the slot holding tag expired.
func (t *Table) lookup(first int, tag [16]byte, now int64) bool {
	for i := first; i < first+bucketSlots; i++ {
		s := t.slot(i)
		u := until(s)
		if u == 0 || [16]byte(s[:16]) != tag {
			continue
		}
		if now < u {
			return true
		}
		t.release(s)
	}
	return false
}

// free is a free slot in the emptier of the two buckets (freeing the
// expired ones it passes); when both are full of live slots, one resident
// moves to its other bucket to make room (one step of cuckoo hashing,
// which keeps the table usable to about 90%: without it two choices
// overflow a bucket near 70%). nil when none can move.
func (t *Table) free(b1, b2 int, now int64) []byte {
	s1, n1 := t.freeIn(b1, now)
	s2, n2 := t.freeIn(b2, now)
	switch {
	case n1 >= n2 && n1 > 0:
		return s1
	case n2 > 0:
		return s2
	}
	for _, b := range [2]int{b1, b2} {
		for i := b; i < b+bucketSlots; i++ {
			s := t.slot(i)
			o1, o2 := t.buckets([16]byte(s[:16]))
			other := o1
			if other == b {
				other = o2
			}
			if dst, n := t.freeIn(other, now); n > 0 {
				copy(dst, s) // whole, before the old slot is freed
				binary.LittleEndian.PutUint64(s[24:32], 0)
				return s
			}
		}
	}
	return nil
}

// freeIn is the bucket from first's first free slot and how many are
// free, freeing the expired ones.
func (t *Table) freeIn(first int, now int64) ([]byte, int) {
	var free []byte
	n := 0
	for i := first; i < first+bucketSlots; i++ {
		s := t.slot(i)
		if u := until(s); u != 0 && now >= u {
			t.release(s)
		}
		if until(s) == 0 {
			if free == nil {
				free = s
			}
			n++
		}
	}
	return free, n
}

// sweep releases the expired slots among the n from the cursor.
func (t *Table) sweep(now int64, n int) {
	for ; n > 0; n-- {
		s := t.slot(t.cursor)
		if u := until(s); u != 0 && now >= u {
			t.release(s)
		}
		if t.cursor++; t.cursor == t.nslots {
			t.cursor = 0
		}
	}
}

// release frees slot s, which is in use.
func (t *Table) release(s []byte) {
	ph := binary.LittleEndian.Uint64(s[16:24])
	binary.LittleEndian.PutUint64(s[24:32], 0)
	t.live--
	if t.held[ph]--; t.held[ph] <= 0 {
		delete(t.held, ph)
	}
	if t.file != nil {
		t.file.dirty = true
	}
}

// load counts the slots in use of a table read from a file, and frees the
// expired ones and those whose until is past any max_clock_skew (a page
// torn by a power cut).
func (t *Table) load(now int64) {
	const farthest = int64(24 * time.Hour)
	for i := range t.nslots {
		s := t.slot(i)
		u := until(s)
		if u == 0 {
			continue
		}
		if now >= u || u-now > farthest {
			binary.LittleEndian.PutUint64(s[24:32], 0)
			continue
		}
		t.live++
		t.held[binary.LittleEndian.Uint64(s[16:24])]++
	}
}

// Close is Store's Close: a file is flushed and unmapped.
func (t *Table) Close() error {
	if t.file == nil {
		t.mu.Lock()
		t.slots = nil
		t.mu.Unlock()
		return nil
	}
	return t.file.close(t)
}
