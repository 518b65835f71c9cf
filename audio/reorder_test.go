package audio

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
	"time"
)

// reorderOrigin is the test clock's zero; ops give times in ms after it.
var reorderOrigin = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

const testMaxWait = 60 * time.Millisecond

// reorderOp is one step of a reorderWindow table test: a push (then pops at
// the same time, as a stream does), a tick (pops only) or a force (pops that
// give up on gaps at once).
type reorderOp struct {
	do   string // "" push, "tick", "force"
	seq  uint16
	at   int // ms after reorderOrigin
	want pushResult
	out  string // what the pops let go: "5 6" released, "x7" lost
}

func push(seq uint16, at int, want pushResult, out string) reorderOp {
	return reorderOp{seq: seq, at: at, want: want, out: out}
}

func tick(at int, out string) reorderOp  { return reorderOp{do: "tick", at: at, out: out} }
func force(at int, out string) reorderOp { return reorderOp{do: "force", at: at, out: out} }

// inOrder pushes n packets from seq on, 20 ms apart from at, each released at once.
func inOrder(seq uint16, n, at int) []reorderOp {
	var ops []reorderOp
	for i := range n {
		s := seq + uint16(i)
		ops = append(ops, push(s, at+20*i, pushHeld, fmt.Sprint(s)))
	}
	return ops
}

func ops(parts ...any) []reorderOp {
	var all []reorderOp
	for _, p := range parts {
		switch p := p.(type) {
		case reorderOp:
			all = append(all, p)
		case []reorderOp:
			all = append(all, p...)
		}
	}
	return all
}

func (r pushResult) String() string {
	return [...]string{"pushHeld", "pushReordered", "pushDuplicate", "pushLate", "pushTooFar", "pushRestart"}[r]
}

// popAll pops until the window lets nothing more go and describes it.
func popAll(w *reorderWindow, now time.Time, force bool) string {
	var out []string
	for range 1000 {
		h, lost := w.pop(now, force)
		switch {
		case h != nil:
			out = append(out, fmt.Sprint(h.seq))
		case lost:
			out = append(out, fmt.Sprint("x", w.next-1))
		default:
			return strings.Join(out, " ")
		}
	}
	return "pop never stops"
}

func testPayload(seq uint16) []byte { return binary.BigEndian.AppendUint16([]byte("seq"), seq) }

func TestReorderWindow(t *testing.T) {
	tests := []struct {
		name string
		ops  []reorderOp
	}{
		{"in-order packets leave at once", inOrder(10, 5, 0)},
		{"a packet ahead of a gap is held until the gap fills", ops(
			push(10, 0, pushHeld, "10"),
			push(12, 20, pushHeld, ""),
			push(13, 40, pushHeld, ""),
			push(11, 50, pushReordered, "11 12 13"),
			push(14, 60, pushHeld, "14"),
		)},
		{"packets arriving after a later one are reordered", ops(
			push(10, 0, pushHeld, "10"),
			push(14, 20, pushHeld, ""),
			push(12, 21, pushReordered, ""),
			push(13, 22, pushReordered, ""),
			push(11, 23, pushReordered, "11 12 13 14"),
		)},
		{"a gap is given up maxWait after the oldest held packet arrived", ops(
			push(10, 0, pushHeld, "10"),
			push(12, 20, pushHeld, ""),
			push(13, 40, pushHeld, ""),
			push(14, 79, pushHeld, ""), // 59 ms after 12 arrived
			tick(79, ""),
			tick(80, "x11 12 13 14"), // 60 ms after 12 arrived
			push(15, 80, pushHeld, "15"),
		)},
		{"a wait is measured from the oldest held packet, not the newest", ops(
			push(10, 0, pushHeld, "10"),
			push(13, 20, pushHeld, ""),
			push(12, 70, pushReordered, ""),
			tick(80, "x11 12 13"),
		)},
		{"every gap before a held packet is given up at once", ops(
			push(10, 0, pushHeld, "10"),
			push(14, 20, pushHeld, ""),
			tick(80, "x11 x12 x13 14"),
		)},
		{"force gives up on a gap at once", ops(
			push(10, 0, pushHeld, "10"),
			push(12, 1, pushHeld, ""),
			push(15, 2, pushHeld, ""),
			force(2, "x11 12 x13 x14 15"),
			force(3, ""), // nothing held: nothing to give up
		)},
		{"a held packet pushed again is a duplicate", ops(
			push(10, 0, pushHeld, "10"),
			push(12, 20, pushHeld, ""),
			push(12, 21, pushDuplicate, ""),
			push(11, 22, pushReordered, "11 12"),
		)},
		{"a released packet pushed again is a duplicate", ops(
			inOrder(10, 3, 0),
			push(10, 60, pushDuplicate, ""),
			push(12, 61, pushDuplicate, ""),
		)},
		{"duplicates are recognised 64 packets back, later ones are late", ops(
			inOrder(0, 71, 0),
			push(7, 1500, pushDuplicate, ""), // next is 71: 7 is the 64th back
			push(6, 1500, pushLate, ""),
		)},
		{"a packet whose gap was given up is late, not a duplicate", ops(
			push(10, 0, pushHeld, "10"),
			push(12, 20, pushHeld, ""),
			tick(80, "x11 12"),
			push(11, 90, pushLate, ""),
		)},
		{"a packet from before the first is late", ops(
			push(100, 0, pushHeld, "100"),
			push(99, 1, pushLate, ""),
		)},
		{"a packet 32 or more ahead is too far", ops(
			push(10, 0, pushHeld, "10"),
			push(11+reorderSlots, 20, pushTooFar, ""),
			push(11+reorderSlots-1, 21, pushHeld, ""), // the window's last slot
			force(22, "x11 x12 x13 x14 x15 x16 x17 x18 x19 x20 x21 x22 x23 x24 x25 x26 x27 x28 x29 x30 "+
				"x31 x32 x33 x34 x35 x36 x37 x38 x39 x40 x41 42"),
			push(11+reorderSlots, 23, pushHeld, "43"),
		)},
		{"a jump of 1000 or more either way is a restart", ops(
			push(5000, 0, pushHeld, "5000"), // next is 5001
			push(5001+1000, 20, pushRestart, ""),
			push(5001-1000, 21, pushRestart, ""),
			push(5001+999, 22, pushTooFar, ""),
			push(5001-999, 23, pushLate, ""),
		)},
		{"a restart is recognised across the wrap", ops(
			push(100, 0, pushHeld, "100"),
			push(64637, 20, pushRestart, ""), // 101 - 1000 modulo 2^16
		)},
		{"sequence numbers wrap in order", inOrder(65533, 6, 0)},
		{"reordering across the wrap", ops(
			push(65534, 0, pushHeld, "65534"),
			push(0, 20, pushHeld, ""),
			push(1, 40, pushHeld, ""),
			push(65535, 41, pushReordered, "65535 0 1"),
			push(65535, 42, pushDuplicate, ""),
		)},
		{"a loss across the wrap", ops(
			push(65534, 0, pushHeld, "65534"),
			push(0, 20, pushHeld, ""),
			tick(80, "x65535 0"),
			push(65535, 81, pushLate, ""),
			push(1+reorderSlots, 82, pushTooFar, ""),
		)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := ptr(newReorderWindow(testMaxWait))
			for i, op := range tt.ops {
				now := reorderOrigin.Add(time.Duration(op.at) * time.Millisecond)
				var got string
				switch op.do {
				case "":
					if r := w.push(op.seq, uint32(op.seq)*960, 7, false, audioLevel{}, testPayload(op.seq), now); r != op.want {
						t.Fatalf("op %d: push(%d) = %v, want %v", i, op.seq, r, op.want)
					}
					got = popAll(w, now, false)
				case "tick":
					got = popAll(w, now, false)
				case "force":
					got = popAll(w, now, true)
				}
				if got != op.out {
					t.Fatalf("op %d (%s %d at %d ms): let go %q, want %q", i, op.do, op.seq, op.at, got, op.out)
				}
			}
		})
	}
}

func TestReorderWindowKeepsWhatItReleases(t *testing.T) {
	w := ptr(newReorderWindow(testMaxWait))
	payload := testPayload(12)
	w.push(12, 12345, 42, true, audioLevel{}, payload, reorderOrigin)
	payload[0] = 'X' // the caller's buffer is reused for the next packet
	h, lost := w.pop(reorderOrigin, false)
	if h == nil || lost {
		t.Fatal("the first packet was not released")
	}
	if h.seq != 12 || h.ts != 12345 || h.csrc != 42 || !h.marker || !h.arrival.Equal(reorderOrigin) ||
		string(h.Payload()) != string(testPayload(12)) {
		t.Errorf("released %+v with payload %q", h, h.Payload())
	}
}

func TestReorderWindowPeekShowsThePacketDueNext(t *testing.T) {
	w := ptr(newReorderWindow(testMaxWait))
	if w.peek() != nil {
		t.Fatal("an empty window peeks a packet")
	}
	w.push(10, 0, 0, false, audioLevel{}, testPayload(10), reorderOrigin)
	popAll(w, reorderOrigin, false)
	w.push(12, 0, 0, false, audioLevel{}, testPayload(12), reorderOrigin)
	if h := w.peek(); h != nil {
		t.Fatalf("peek = %d while 11 is missing, want nil", h.seq)
	}
	if h, lost := w.pop(reorderOrigin, true); h != nil || !lost {
		t.Fatal("force did not give up on 11")
	}
	// 11 is being concealed: the packet after it is there for its FEC.
	h := w.peek()
	if h == nil || h.seq != 12 || string(h.Payload()) != string(testPayload(12)) {
		t.Fatalf("peek = %+v, want packet 12", h)
	}
	if w.held != 1 {
		t.Errorf("peek took the packet: held %d", w.held)
	}
	if h, _ := w.pop(reorderOrigin, false); h == nil || h.seq != 12 {
		t.Error("pop after peek did not release 12")
	}
}

func TestReorderWindowPushAndPopDoNotAllocate(t *testing.T) {
	w := ptr(newReorderWindow(testMaxWait))
	payload := testPayload(0)
	seq := uint16(0)
	allocs := testing.AllocsPerRun(100, func() {
		w.push(seq+1, 0, 0, false, audioLevel{}, payload, reorderOrigin) // ahead of a gap
		w.push(seq, 0, 0, false, audioLevel{}, payload, reorderOrigin)
		w.push(seq+3, 0, 0, false, audioLevel{}, payload, reorderOrigin)
		for h, lost := w.pop(reorderOrigin, true); h != nil || lost; h, lost = w.pop(reorderOrigin, true) {
		}
		seq += 4
	})
	if allocs != 0 {
		t.Errorf("push and pop allocate %v times, want 0", allocs)
	}
}

// A fuzz op is 3 bytes: a signed sequence step from the last pushed packet,
// the ms the clock moves on, and flags.
const (
	fuzzForce = 1 << iota // pop with force after this op
	fuzzJump              // the step is in fifties: far enough for a restart
	fuzzTick              // no push: only time passes
)

// FuzzReorderWindow drives the window the way Stream.Push does and checks it
// against a model that numbers packets without wrapping.
func FuzzReorderWindow(f *testing.F) {
	seeds := [][]byte{
		{0, 10, 1, 20, 0, 1, 20, 0, 1, 20, 0},                                // in order
		{0, 10, 2, 20, 0, 0xff, 5, 0, 2, 5, 0},                               // 12, 11, 13
		{0xff, 0xfd, 1, 20, 0, 1, 20, 0, 2, 20, 0, 1, 0, 0},                  // across the wrap with a loss
		{0, 10, 5, 20, 0, 0, 100, fuzzTick, 0, 0, 0},                         // a gap given up
		{0, 10, 3, 20, 0, 0, 0, fuzzForce},                                   // force
		{0, 10, 1, 20, 0, 0, 20, 0, 0xff, 20, 0},                             // duplicates
		{0, 10, 40, 20, 0, 1, 20, 0},                                         // too far, window empty
		{0, 10, 2, 20, 0, 40, 20, 0},                                         // too far, something held
		{0, 10, 1, 20, 0, 30, 20, fuzzJump, 0xe2, 20, fuzzJump, 0xff, 20, 0}, // restarts, then one behind: late
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < 2 {
			return
		}
		m := newReorderModel(t)
		seq := binary.BigEndian.Uint16(b)
		now := reorderOrigin
		// A jump can give up on a thousand packets: 500 ops keep a run short.
		for b = b[2:min(len(b), 2+3*500)]; len(b) >= 3; b = b[3:] {
			step, adv, flags := int(int8(b[0])), time.Duration(b[1])*time.Millisecond, b[2]
			now = now.Add(adv)
			if flags&fuzzTick == 0 {
				if flags&fuzzJump != 0 {
					step *= 50
				}
				seq += uint16(step)
				m.push(seq, now)
			}
			m.popAll(now, flags&fuzzForce != 0)
		}
		m.popAll(now, true)
		if m.w.held != 0 {
			t.Fatalf("%d packets held after a forced drain", m.w.held)
		}
	})
}

// Model states of a sequence number.
const (
	unseen = iota
	held
	released
	lost
)

// reorderModel is the reference a fuzzed reorderWindow is held to: packets
// numbered on an unwrapped line, states in a map.
type reorderModel struct {
	t       *testing.T
	w       *reorderWindow
	started bool
	epoch   byte  // counts restarts; in payloads, to catch a stale packet
	next    int64 // the packet due next, unwrapped
	highest int64 // the highest held or released
	state   map[int64]int
	arrival map[int64]time.Time
	heldNow int
}

func newReorderModel(t *testing.T) *reorderModel {
	return &reorderModel{t: t, w: ptr(newReorderWindow(testMaxWait)),
		state: map[int64]int{}, arrival: map[int64]time.Time{}}
}

func (m *reorderModel) unwrap(seq uint16) int64 {
	return m.next + int64(int16(seq-uint16(m.next)))
}

// expect is what pushing seq should do.
func (m *reorderModel) expect(seq uint16) pushResult {
	if !m.started {
		return pushHeld
	}
	u := m.unwrap(seq)
	off := u - m.next
	switch {
	case off >= restartJump || off <= -restartJump:
		return pushRestart
	case off < 0:
		if m.state[u] == released && -off-1 < 64 {
			return pushDuplicate
		}
		return pushLate
	case off >= reorderSlots:
		return pushTooFar
	case m.state[u] == held:
		return pushDuplicate
	case u < m.highest:
		return pushReordered
	}
	return pushHeld
}

func (m *reorderModel) payload(u int64) []byte {
	return binary.BigEndian.AppendUint64([]byte{m.epoch}, uint64(u))
}

// push offers seq as Stream.Push does: a restart drains and starts over, a
// packet too far ahead makes room first.
func (m *reorderModel) push(seq uint16, now time.Time) {
	t := m.t
	for range 2 * restartJump {
		want := m.expect(seq)
		if !m.started {
			m.started, m.next, m.highest = true, int64(seq), int64(seq)
		}
		u := m.unwrap(seq)
		got := m.w.push(seq, uint32(u), 0, false, audioLevel{}, m.payload(u), now)
		if got != want {
			t.Fatalf("push(%d) with next %d (%d held) = %v, want %v", seq, uint16(m.next), m.heldNow, got, want)
		}
		switch got {
		case pushHeld, pushReordered:
			m.state[u], m.arrival[u] = held, now
			m.heldNow++
			m.highest = max(m.highest, u)
			m.checkHeld()
			return
		case pushDuplicate, pushLate:
			return
		case pushRestart:
			m.popAll(now, true)
			m.w.started = false
			m.started = false
			m.epoch++
			clear(m.state)
			clear(m.arrival)
		case pushTooFar:
			if m.w.held == 0 {
				m.w.giveUp()
				m.gaveUp(true, now)
			} else {
				m.popOne(now, true)
			}
		}
	}
	t.Fatalf("push(%d) never settled", seq)
}

// popAll pops until the window lets nothing more go, then checks that it
// let go everything it should have.
func (m *reorderModel) popAll(now time.Time, force bool) {
	for range 2 * reorderSlots {
		if !m.popOne(now, force) {
			if m.state[m.next] == held {
				m.t.Fatalf("packet %d is held and due but was not released", uint16(m.next))
			}
			if m.heldNow > 0 && (force || now.Sub(m.oldest()) >= testMaxWait) {
				m.t.Fatalf("a gap at %d was not given up (force %v, waited %v)", uint16(m.next), force, now.Sub(m.oldest()))
			}
			return
		}
	}
	m.t.Fatalf("more than %d pops in a row", 2*reorderSlots)
}

// popOne pops once and checks what came out; it reports whether anything did.
func (m *reorderModel) popOne(now time.Time, force bool) bool {
	t := m.t
	h, gaveUp := m.w.pop(now, force)
	switch {
	case h != nil:
		u := m.next
		if h.seq != uint16(u) || m.state[u] != held {
			t.Fatalf("released %d, want %d (state %d)", h.seq, uint16(u), m.state[u])
		}
		if string(h.Payload()) != string(m.payload(u)) || h.ts != uint32(u) || !h.arrival.Equal(m.arrival[u]) {
			t.Fatalf("released %d with another packet's contents", h.seq)
		}
		m.state[u] = released
		delete(m.arrival, u)
		m.heldNow--
		m.advance()
		m.checkHeld()
		return true
	case gaveUp:
		m.gaveUp(force, now)
		return true
	}
	return false
}

// gaveUp checks a loss the window just declared.
func (m *reorderModel) gaveUp(force bool, now time.Time) {
	t := m.t
	u := m.next
	if m.w.next-1 != uint16(u) {
		t.Fatalf("gave up on %d, want %d", m.w.next-1, uint16(u))
	}
	if m.state[u] != unseen {
		t.Fatalf("gave up on %d in state %d", uint16(u), m.state[u])
	}
	m.state[u] = lost
	m.advance()
	if !force && now.Sub(m.oldest()) < testMaxWait {
		t.Fatalf("gave up on %d after %v, before maxWait", uint16(u), now.Sub(m.oldest()))
	}
}

// advance moves on to the next packet and forgets one that can no longer
// matter: past 64 back, everything is late.
func (m *reorderModel) advance() {
	m.next++
	delete(m.state, m.next-66)
}

func (m *reorderModel) oldest() time.Time {
	var oldest time.Time
	for _, at := range m.arrival {
		if oldest.IsZero() || at.Before(oldest) {
			oldest = at
		}
	}
	return oldest
}

func (m *reorderModel) checkHeld() {
	if m.w.held != m.heldNow || m.w.held > reorderSlots || m.w.held < 0 {
		m.t.Fatalf("window holds %d, model %d (bound %d)", m.w.held, m.heldNow, reorderSlots)
	}
}

func ptr[T any](v T) *T { return &v }

// A payload larger than a slot's reserved room is held whole, and does not
// spill into the next slot's.
func TestReorderWindowHoldsLargePayloadsWhole(t *testing.T) {
	w := ptr(newReorderWindow(testMaxWait))
	big := make([]byte, 1400)
	for i := range big {
		big[i] = byte(i * 7)
	}
	w.push(0, 0, 0, false, audioLevel{}, testPayload(0), reorderOrigin)
	w.push(2, 0, 0, false, audioLevel{}, testPayload(2), reorderOrigin) // the slot after, filled first
	w.push(1, 0, 0, false, audioLevel{}, big, reorderOrigin)
	for seq, want := range [][]byte{testPayload(0), big, testPayload(2)} {
		h, _ := w.pop(reorderOrigin, false)
		if h == nil {
			t.Fatalf("packet %d not released", seq)
		}
		if !bytes.Equal(h.Payload(), want) {
			t.Fatalf("packet %d: payload changed (%d bytes, want %d)", seq, len(h.Payload()), len(want))
		}
	}
}
