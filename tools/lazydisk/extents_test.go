package main

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// TestExtentsMatchModel replays random writes and truncates on extents and on
// a plain byte slice and checks that overlaying the extents on zeros gives
// the slice.
func TestExtentsMatchModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		var x extents
		var model []byte
		written := make([]bool, 0)
		for op := range 60 {
			if rng.IntN(8) == 0 {
				size := rng.IntN(len(model) + 1)
				x.truncate(int64(size))
				model, written = model[:size], written[:size]
				continue
			}
			var off int
			switch rng.IntN(3) {
			case 0:
				off = len(model) // append
			default:
				off = rng.IntN(len(model) + 16)
			}
			p := make([]byte, 1+rng.IntN(24))
			for i := range p {
				p[i] = byte('a' + (round+op+i)%26)
			}
			x.write(int64(off), p)
			for len(model) < off+len(p) {
				model, written = append(model, 0), append(written, false)
			}
			copy(model[off:], p)
			for i := range p {
				written[off+i] = true
			}
		}

		got := make([]byte, len(model))
		x.overlay(got, 0)
		if !bytes.Equal(got, model) {
			t.Fatalf("round %d: overlay\n got %q\nwant %q", round, got, model)
		}
		var dirty int64
		for _, w := range written {
			if w {
				dirty++
			}
		}
		if x.bytes != dirty {
			t.Fatalf("round %d: %d dirty bytes counted, %d written", round, x.bytes, dirty)
		}
		for i := 1; i < len(x.list); i++ {
			if x.list[i-1].end() >= x.list[i].off {
				t.Fatalf("round %d: extents %d and %d overlap or touch", round, i-1, i)
			}
		}
		if off := rng.IntN(len(model) + 1); off < len(model) {
			part := make([]byte, rng.IntN(len(model)-off)+1)
			x.overlay(part, int64(off))
			if !bytes.Equal(part, model[off:off+len(part)]) {
				t.Fatalf("round %d: overlay at %d\n got %q\nwant %q", round, off, part, model[off:off+len(part)])
			}
		}
	}
}

func TestAppendsStayOneExtent(t *testing.T) {
	var x extents
	for i := range 1000 {
		x.write(int64(i*10), []byte("0123456789"))
	}
	if len(x.list) != 1 || x.bytes != 10000 || x.end() != 10000 {
		t.Fatalf("got %d extents, %d bytes, end %d; want 1, 10000, 10000", len(x.list), x.bytes, x.end())
	}
}
