package main

import (
	"slices"
	"sort"
)

// extent is a run of dirty bytes that belongs at off in the file.
type extent struct {
	off  int64
	data []byte
}

func (e *extent) end() int64 { return e.off + int64(len(e.data)) }

// extents is a file's dirty data: sorted by offset, never overlapping. A later
// write replaces the bytes of earlier ones in its range, so overlaying the
// extents on the backing file gives the same result as replaying the writes
// in order. Writes that overlap or touch are merged, which keeps an
// append-only file at a single extent.
type extents struct {
	list  []extent
	bytes int64
}

// end is the offset just past the last dirty byte, or 0 when there is none.
func (x *extents) end() int64 {
	if len(x.list) == 0 {
		return 0
	}
	return x.list[len(x.list)-1].end()
}

// write records p at off, copying it.
func (x *extents) write(off int64, p []byte) {
	if len(p) == 0 {
		return
	}
	end := off + int64(len(p))
	list := x.list

	if n := len(list); n > 0 {
		last := &list[n-1]
		switch {
		case off == last.end():
			last.data = append(last.data, p...)
			x.bytes += int64(len(p))
			return
		case off >= last.off && end <= last.end():
			copy(last.data[off-last.off:], p)
			return
		}
	}

	// list[i:j] are the extents that overlap or touch [off, end).
	i := sort.Search(len(list), func(k int) bool { return list[k].end() >= off })
	j := sort.Search(len(list), func(k int) bool { return list[k].off > end })
	if i == j {
		x.list = slices.Insert(list, i, extent{off: off, data: slices.Clone(p)})
		x.bytes += int64(len(p))
		return
	}

	start := min(off, list[i].off)
	stop := max(end, list[j-1].end())
	size := int(stop - start)
	var merged []byte
	if list[i].off == start {
		// Reuse the first extent's buffer: a write that overlaps the tail of a
		// large extent should not copy all of it.
		merged = slices.Grow(list[i].data, size-len(list[i].data))[:size]
	} else {
		merged = make([]byte, size)
		copy(merged[list[i].off-start:], list[i].data)
	}
	var replaced int64
	for k := i; k < j; k++ {
		replaced += int64(len(list[k].data))
		if k > i {
			copy(merged[list[k].off-start:], list[k].data)
		}
	}
	copy(merged[off-start:], p)
	x.list = slices.Replace(list, i, j, extent{off: start, data: merged})
	x.bytes += int64(size) - replaced
}

// truncate drops the dirty bytes at and beyond size.
func (x *extents) truncate(size int64) {
	list := x.list
	i := sort.Search(len(list), func(k int) bool { return list[k].end() > size })
	for k := i; k < len(list); k++ {
		x.bytes -= int64(len(list[k].data))
	}
	if i < len(list) && list[i].off < size {
		kept := size - list[i].off
		list[i].data = slices.Clip(list[i].data[:kept])
		x.bytes += kept
		i++
	}
	clear(list[i:])
	x.list = list[:i]
}

// overlay copies the dirty bytes that fall in [off, off+len(buf)) into buf.
func (x *extents) overlay(buf []byte, off int64) {
	end := off + int64(len(buf))
	list := x.list
	for k := sort.Search(len(list), func(k int) bool { return list[k].end() > off }); k < len(list) && list[k].off < end; k++ {
		e := &list[k]
		lo := max(e.off, off)
		hi := min(e.end(), end)
		copy(buf[lo-off:hi-off], e.data[lo-e.off:hi-e.off])
	}
}

func (x *extents) reset() {
	x.list = nil
	x.bytes = 0
}
