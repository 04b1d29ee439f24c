package main

import (
	"errors"
	"fmt"
	"log"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// disk is the simulated volatile cache: the dirty data of every file that
// was written and not yet synced or written back.
//
// Locking: disk.mu guards the files map; each dirtyFile's mu guards its data.
// A dirtyFile's mu may be held while taking disk.mu, never the other way
// round. The fields fixed at a dirtyFile's creation may be read under
// disk.mu alone.
type disk struct {
	writebackAfter time.Duration
	maxDirty       int64

	mu    sync.Mutex
	files map[uint64]*dirtyFile // by FUSE inode number, which go-fuse derives from the backing inode

	dirtyBytes atomic.Int64
	// forgotten counts dirty states removed (written back or dropped). A stat
	// of a backing file taken while one was removed may predate its data:
	// attribute readers retry until the count holds still around them.
	forgotten atomic.Uint64
	// writeThrough is set by a polite shutdown: from then on every write is
	// persisted before it is acknowledged.
	writeThrough atomic.Bool
}

// dirtyFile is one backing inode's unsynced data. It exists only while the
// inode has dirty data; once written back or dropped it is removed from
// disk.files and marked gone, and the next write creates a fresh one.
type dirtyFile struct {
	key       uint64
	inode     *fs.Inode
	dirtiedAt time.Time // when the inode became dirty; fixed for the dirtyFile's life

	mu       sync.Mutex
	gone     bool
	backing  *os.File // own descriptor, so writeback works after the last close or unlink
	extents  extents
	modified time.Time
}

func newDisk(writebackAfter time.Duration, maxDirty int64) *disk {
	return &disk{
		writebackAfter: writebackAfter,
		maxDirty:       maxDirty,
		files:          map[uint64]*dirtyFile{},
	}
}

// lock returns the inode's dirty state locked, or nil when it is clean.
func (d *disk) lock(key uint64) *dirtyFile {
	for {
		d.mu.Lock()
		f := d.files[key]
		d.mu.Unlock()
		if f == nil {
			return nil
		}
		f.mu.Lock()
		if !f.gone {
			return f
		}
		f.mu.Unlock()
	}
}

// lockOrCreate returns the inode's dirty state locked, creating it if needed
// with a duplicate of fd, a writable descriptor of the backing file. The
// duplicate shares fd's open file description, which was opened without
// O_APPEND and O_DIRECT, so writeback lands at the recorded offsets.
func (d *disk) lockOrCreate(key uint64, inode *fs.Inode, fd int) (*dirtyFile, error) {
	for {
		d.mu.Lock()
		f := d.files[key]
		if f == nil {
			dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
			if err != nil {
				d.mu.Unlock()
				return nil, err
			}
			f = &dirtyFile{
				key:       key,
				inode:     inode,
				dirtiedAt: time.Now(),
				backing:   os.NewFile(uintptr(dup), fmt.Sprintf("inode %d", key)),
			}
			d.files[key] = f
		}
		d.mu.Unlock()
		f.mu.Lock()
		if !f.gone {
			return f, nil
		}
		f.mu.Unlock()
	}
}

// forgetLocked removes a clean dirtyFile. The caller holds f.mu.
func (d *disk) forgetLocked(f *dirtyFile) {
	d.dirtyBytes.Add(-f.extents.bytes)
	f.extents.reset()
	d.forgotten.Add(1)
	f.gone = true
	d.mu.Lock()
	delete(d.files, f.key)
	d.mu.Unlock()
	f.backing.Close()
}

// writebackLocked writes f's dirty data to the backing file, optionally
// syncs it, and forgets f. The caller holds f.mu. On error the data that was
// not written stays dirty.
func (d *disk) writebackLocked(f *dirtyFile, sync, datasync bool) error {
	for len(f.extents.list) > 0 {
		e := &f.extents.list[0]
		if _, err := f.backing.WriteAt(e.data, e.off); err != nil {
			return fmt.Errorf("writing back %d bytes at %d of inode %d: %w", len(e.data), e.off, f.key, err)
		}
		n := int64(len(e.data))
		f.extents.bytes -= n
		d.dirtyBytes.Add(-n)
		f.extents.list[0] = extent{}
		f.extents.list = f.extents.list[1:]
	}
	if sync {
		var err error
		if datasync {
			err = unix.Fdatasync(int(f.backing.Fd()))
		} else {
			err = f.backing.Sync()
		}
		if err != nil {
			return fmt.Errorf("syncing inode %d: %w", f.key, err)
		}
	}
	d.forgetLocked(f)
	return nil
}

func (d *disk) write(key uint64, inode *fs.Inode, fd int, p []byte, off int64) (uint32, syscall.Errno) {
	if len(p) == 0 {
		return 0, 0
	}
	f, err := d.lockOrCreate(key, inode, fd)
	if err != nil {
		return 0, fs.ToErrno(err)
	}
	before := f.extents.bytes
	f.extents.write(off, p)
	d.dirtyBytes.Add(f.extents.bytes - before)
	f.modified = time.Now()
	var errno syscall.Errno
	if d.writeThrough.Load() {
		if err := d.writebackLocked(f, true, false); err != nil {
			log.Print(err)
			errno = syscall.EIO
		}
	}
	f.mu.Unlock()
	if errno != 0 {
		return 0, errno
	}
	d.enforceMaxDirty()
	return uint32(len(p)), 0
}

// enforceMaxDirty writes back the longest-dirty files until the dirty total
// is within the limit, like a writer throttled by dirty_bytes.
func (d *disk) enforceMaxDirty() {
	for d.dirtyBytes.Load() > d.maxDirty {
		d.mu.Lock()
		var oldest *dirtyFile
		for _, f := range d.files {
			if oldest == nil || f.dirtiedAt.Before(oldest.dirtiedAt) {
				oldest = f
			}
		}
		d.mu.Unlock()
		if oldest == nil {
			return
		}
		oldest.mu.Lock()
		var err error
		if !oldest.gone {
			err = d.writebackLocked(oldest, false, false)
		}
		oldest.mu.Unlock()
		if err != nil {
			log.Print(err)
			return
		}
	}
}

// read serves a read of the file open as fd: the backing bytes with the
// dirty extents laid over them, up to the logical size.
func (d *disk) read(key uint64, fd int, buf []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	f := d.lock(key)
	if f == nil {
		return fuse.ReadResultFd(uintptr(fd), off, len(buf)), 0
	}
	defer f.mu.Unlock()

	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return nil, fs.ToErrno(err)
	}
	size := max(st.Size, f.extents.end())
	if off >= size {
		return fuse.ReadResultData(nil), 0
	}
	buf = buf[:min(int64(len(buf)), size-off)]
	n := 0
	for n < len(buf) {
		m, err := syscall.Pread(fd, buf[n:], off+int64(n))
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return nil, fs.ToErrno(err)
		}
		if m == 0 {
			break
		}
		n += m
	}
	clear(buf[n:])
	f.extents.overlay(buf, off)
	return fuse.ReadResultData(buf), 0
}

// sync implements fsync and fdatasync on any handle of the inode.
func (d *disk) sync(key uint64, fd int, datasync bool) syscall.Errno {
	if f := d.lock(key); f != nil {
		err := d.writebackLocked(f, true, datasync)
		f.mu.Unlock()
		if err != nil {
			log.Print(err)
			return syscall.EIO
		}
		return 0
	}
	if datasync {
		return fs.ToErrno(unix.Fdatasync(fd))
	}
	return fs.ToErrno(syscall.Fsync(fd))
}

// truncate runs truncateBacking, which changes the backing file's size, and
// drops the dirty bytes beyond the new size, with the inode locked so no
// writeback can land past the new end in between.
func (d *disk) truncate(key uint64, size int64, truncateBacking func() error) syscall.Errno {
	f := d.lock(key)
	if f != nil {
		defer f.mu.Unlock()
	}
	if err := truncateBacking(); err != nil {
		return fs.ToErrno(err)
	}
	if f != nil {
		before := f.extents.bytes
		f.extents.truncate(size)
		d.dirtyBytes.Add(f.extents.bytes - before)
		f.modified = time.Now()
		if f.extents.bytes == 0 {
			d.forgetLocked(f)
		}
	}
	return 0
}

// adjustAttr makes attributes read from the backing file describe the file as
// the writer sees it: dirty bytes past the backing end count in the size,
// and the last write counts as a modification.
func (d *disk) adjustAttr(key uint64, a *fuse.Attr) {
	f := d.lock(key)
	if f == nil {
		return
	}
	defer f.mu.Unlock()
	if end := uint64(f.extents.end()); end > a.Size {
		a.Size = end
		a.Blocks = max(a.Blocks, (end+511)/512)
	}
	if f.modified.After(time.Unix(int64(a.Mtime), int64(a.Mtimensec))) {
		a.SetTimes(nil, &f.modified, &f.modified)
	}
}

func (d *disk) adjustStatx(key uint64, s *fuse.Statx) {
	f := d.lock(key)
	if f == nil {
		return
	}
	defer f.mu.Unlock()
	if end := uint64(f.extents.end()); end > s.Size {
		s.Size = end
		s.Blocks = max(s.Blocks, (end+511)/512)
	}
	if f.modified.After(time.Unix(int64(s.Mtime.Sec), int64(s.Mtime.Nsec))) {
		t := fuse.SxTime{Sec: uint64(f.modified.Unix()), Nsec: uint32(f.modified.Nanosecond())}
		s.Mtime, s.Ctime = t, t
	}
}

func (d *disk) snapshot() []*dirtyFile {
	d.mu.Lock()
	defer d.mu.Unlock()
	files := make([]*dirtyFile, 0, len(d.files))
	for _, f := range d.files {
		files = append(files, f)
	}
	slices.SortFunc(files, func(a, b *dirtyFile) int { return a.dirtiedAt.Compare(b.dirtiedAt) })
	return files
}

// writebackExpired writes back the files that have been dirty for longer than
// writebackAfter.
func (d *disk) writebackExpired(now time.Time) {
	for _, f := range d.snapshot() {
		if now.Sub(f.dirtiedAt) < d.writebackAfter {
			break
		}
		f.mu.Lock()
		if !f.gone {
			if err := d.writebackLocked(f, false, false); err != nil {
				log.Print(err)
			}
		}
		f.mu.Unlock()
	}
}

// writebackAll writes back and syncs every dirty file.
func (d *disk) writebackAll() (files int, bytes int64, err error) {
	for _, f := range d.snapshot() {
		f.mu.Lock()
		if !f.gone {
			n := f.extents.bytes
			if werr := d.writebackLocked(f, true, false); werr != nil {
				err = errors.Join(err, werr)
			} else {
				files++
				bytes += n
			}
		}
		f.mu.Unlock()
	}
	return files, bytes, err
}

// crash drops every dirty byte, as a power loss would, and tells the kernel
// to forget the pages it cached from those writes.
func (d *disk) crash() (files int, bytes int64) {
	var inodes []*fs.Inode
	for _, f := range d.snapshot() {
		f.mu.Lock()
		if !f.gone {
			files++
			bytes += f.extents.bytes
			inodes = append(inodes, f.inode)
			d.forgetLocked(f)
		}
		f.mu.Unlock()
	}
	for _, inode := range inodes {
		// ENOENT just means the kernel no longer knows the inode.
		inode.NotifyContent(0, 0)
	}
	return files, bytes
}
