package main

import (
	"context"
	"log"
	"path/filepath"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// fuseFsyncFdatasync is FUSE_FSYNC_FDATASYNC: the fsync request came from fdatasync(2).
const fuseFsyncFdatasync = 1

// node is a go-fuse loopback node whose regular files keep written data in
// the disk's volatile cache. Everything else (directories, metadata
// operations) is the loopback's, applied to the backing directory at once.
type node struct {
	fs.LoopbackNode
	disk *disk
}

// key identifies the backing inode. go-fuse derives the FUSE inode number from
// the backing device and inode, so hard links share it.
func (n *node) key() uint64 { return n.StableAttr().Ino }

func (n *node) backingPath() string {
	return filepath.Join(n.RootData.Path, n.Path(n.RootData.RootNode.EmbeddedInode()))
}

// newFile wraps a handle opened by the loopback. fs.NewLoopbackFile returns
// a *fs.LoopbackFile, and PassthroughFd is its only accessor for the
// descriptor (lazydisk never enables FUSE passthrough: every write must reach
// it).
func (n *node) newFile(fh fs.FileHandle) (fs.FileHandle, syscall.Errno) {
	lf, ok := fh.(*fs.LoopbackFile)
	if !ok {
		log.Printf("unexpected file handle type %T", fh)
		return nil, syscall.EIO
	}
	fd, ok := lf.PassthroughFd()
	if !ok {
		lf.Release(context.Background())
		return nil, syscall.EBADF
	}
	return &file{lf: lf, fd: fd, node: n}, 0
}

func childNode(child *fs.Inode) (*node, syscall.Errno) {
	cn, ok := child.Operations().(*node)
	if !ok {
		log.Printf("unexpected node type %T", child.Operations())
		return nil, syscall.EIO
	}
	return cn, 0
}

// unwrap gives the loopback its own handle type back, so its handle-based
// getattr, setattr and statx use the descriptor.
func unwrap(f fs.FileHandle) fs.FileHandle {
	if h, ok := f.(*file); ok {
		return h.lf
	}
	return f
}

var (
	_ fs.NodeWrapChilder    = (*node)(nil)
	_ fs.NodeLookuper       = (*node)(nil)
	_ fs.NodeGetattrer      = (*node)(nil)
	_ fs.NodeStatxer        = (*node)(nil)
	_ fs.NodeSetattrer      = (*node)(nil)
	_ fs.NodeOpener         = (*node)(nil)
	_ fs.NodeCreater        = (*node)(nil)
	_ fs.NodeTmpfiler       = (*node)(nil)
	_ fs.NodeLinker         = (*node)(nil)
	_ fs.NodeCopyFileRanger = (*node)(nil)

	_ fs.FileReader    = (*file)(nil)
	_ fs.FileWriter    = (*file)(nil)
	_ fs.FileFsyncer   = (*file)(nil)
	_ fs.FileFlusher   = (*file)(nil)
	_ fs.FileReleaser  = (*file)(nil)
	_ fs.FileAllocater = (*file)(nil)
)

// WrapChild makes every node the loopback creates a lazydisk node.
func (n *node) WrapChild(ctx context.Context, ops fs.InodeEmbedder) fs.InodeEmbedder {
	child, ok := ops.(*fs.LoopbackNode)
	if !ok {
		return ops
	}
	return &node{LoopbackNode: fs.LoopbackNode{RootData: child.RootData}, disk: n.disk}
}

// Attribute replies stat the backing file, then lay the dirty data over it.
// A writeback between the two would leave neither the data in the stat nor
// the dirty size in the reply, and the kernel would shrink its cached size
// (O_APPEND writes would then land inside acknowledged data): each reply is
// taken again until no dirty state was removed while it was made.

func (n *node) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	before := n.disk.forgotten.Load()
	child, errno := n.LoopbackNode.Lookup(ctx, name, out)
	if errno != 0 {
		return child, errno
	}
	n.disk.adjustAttr(child.StableAttr().Ino, &out.Attr)
	for after := n.disk.forgotten.Load(); after != before; after = n.disk.forgotten.Load() {
		before = after
		var st syscall.Stat_t
		if err := syscall.Lstat(filepath.Join(n.backingPath(), name), &st); err != nil {
			return child, fs.ToErrno(err)
		}
		ino := out.Attr.Ino
		out.Attr.FromStat(&st)
		out.Attr.Ino = ino
		n.disk.adjustAttr(child.StableAttr().Ino, &out.Attr)
	}
	return child, 0
}

func (n *node) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	for {
		before := n.disk.forgotten.Load()
		if errno := n.LoopbackNode.Getattr(ctx, unwrap(f), out); errno != 0 {
			return errno
		}
		n.disk.adjustAttr(n.key(), &out.Attr)
		if n.disk.forgotten.Load() == before {
			return 0
		}
	}
}

func (n *node) Statx(ctx context.Context, f fs.FileHandle, flags uint32, mask uint32, out *fuse.StatxOut) syscall.Errno {
	for {
		before := n.disk.forgotten.Load()
		if errno := n.LoopbackNode.Statx(ctx, unwrap(f), flags, mask, out); errno != 0 {
			return errno
		}
		n.disk.adjustStatx(n.key(), &out.Statx)
		if n.disk.forgotten.Load() == before {
			return 0
		}
	}
}

// Setattr applies a size change to the backing file at once and drops the
// dirty bytes beyond it; the rest is the loopback's.
func (n *node) Setattr(ctx context.Context, f fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if size, ok := in.GetSize(); ok {
		h, _ := f.(*file)
		errno := n.disk.truncate(n.key(), int64(size), func() error {
			if h != nil {
				return syscall.Ftruncate(h.fd, int64(size))
			}
			return syscall.Truncate(n.backingPath(), int64(size))
		})
		if errno != 0 {
			return errno
		}
		rest := *in
		rest.Valid &^= fuse.FATTR_SIZE
		in = &rest
	}
	if errno := n.LoopbackNode.Setattr(ctx, unwrap(f), in, out); errno != 0 {
		return errno
	}
	n.disk.adjustAttr(n.key(), &out.Attr)
	return 0
}

// backingOpenFlags drops O_DIRECT: the backing descriptor also serves the
// buffered reads and the writeback, which O_DIRECT's alignment rules would
// break. The loopback itself drops O_APPEND, so writeback lands at the
// recorded offsets.
func backingOpenFlags(flags uint32) uint32 { return flags &^ syscall.O_DIRECT }

// discardOnTruncatingOpen drops the dirty data of a file opened with O_TRUNC,
// whose backing file the open just emptied. (Linux only sends O_TRUNC with
// FUSE_ATOMIC_O_TRUNC, which go-fuse does not negotiate; otherwise it
// truncates with SETATTR, handled in Setattr.)
func (n *node) discardOnTruncatingOpen(flags uint32) {
	if flags&syscall.O_TRUNC != 0 {
		n.disk.truncate(n.key(), 0, func() error { return nil })
	}
}

func (n *node) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	fh, fuseFlags, errno := n.LoopbackNode.Open(ctx, backingOpenFlags(flags))
	if errno != 0 {
		return nil, 0, errno
	}
	n.discardOnTruncatingOpen(flags)
	h, errno := n.newFile(fh)
	return h, fuseFlags, errno
}

func (n *node) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	child, fh, fuseFlags, errno := n.LoopbackNode.Create(ctx, name, backingOpenFlags(flags), mode, out)
	if errno != 0 {
		return nil, nil, 0, errno
	}
	return n.finishCreate(child, fh, fuseFlags, flags, out)
}

func (n *node) Tmpfile(ctx context.Context, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	child, fh, fuseFlags, errno := n.LoopbackNode.Tmpfile(ctx, backingOpenFlags(flags), mode, out)
	if errno != 0 {
		return nil, nil, 0, errno
	}
	return n.finishCreate(child, fh, fuseFlags, flags, out)
}

// finishCreate wraps the handle of a created file. O_CREAT without O_EXCL
// may have opened an existing file, which can have dirty data.
func (n *node) finishCreate(child *fs.Inode, fh fs.FileHandle, fuseFlags, flags uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	cn, errno := childNode(child)
	if errno != 0 {
		fh.(fs.FileReleaser).Release(context.Background())
		return nil, nil, 0, errno
	}
	h, errno := cn.newFile(fh)
	if errno != 0 {
		return nil, nil, 0, errno
	}
	cn.discardOnTruncatingOpen(flags)
	n.disk.adjustAttr(cn.key(), &out.Attr)
	return child, h, fuseFlags, 0
}

func (n *node) Link(ctx context.Context, target fs.InodeEmbedder, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	child, errno := n.LoopbackNode.Link(ctx, target, name, out)
	if errno == 0 {
		n.disk.adjustAttr(child.StableAttr().Ino, &out.Attr)
	}
	return child, errno
}

// CopyFileRange would copy backing bytes without the dirty data; ENOSYS
// makes the kernel fall back to reads and writes.
func (n *node) CopyFileRange(ctx context.Context, fhIn fs.FileHandle, offIn uint64, out *fs.Inode, fhOut fs.FileHandle, offOut uint64, length uint64, flags uint64) (uint32, syscall.Errno) {
	return 0, syscall.ENOSYS
}

// file is an open regular file. It implements no Lseek (go-fuse then answers
// SEEK_DATA and SEEK_HOLE from Getattr's logical size), no passthrough and
// no copy_file_range, so every data access goes through the dirty cache.
type file struct {
	lf   *fs.LoopbackFile
	fd   int // owned by lf, valid until Release
	node *node
}

func (h *file) Read(ctx context.Context, buf []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	return h.node.disk.read(h.node.key(), h.fd, buf, off)
}

func (h *file) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	return h.node.disk.write(h.node.key(), h.node.EmbeddedInode(), h.fd, data, off)
}

func (h *file) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	return h.node.disk.sync(h.node.key(), h.fd, flags&fuseFsyncFdatasync != 0)
}

// Flush runs on every close(2). Closing a file does not make its data
// durable, so this persists nothing.
func (h *file) Flush(ctx context.Context) syscall.Errno { return h.lf.Flush(ctx) }

func (h *file) Release(ctx context.Context) syscall.Errno { return h.lf.Release(ctx) }

// Allocate supports plain preallocation, which only grows the backing file.
// Punching holes or zeroing ranges would have to edit the dirty extents.
func (h *file) Allocate(ctx context.Context, off uint64, size uint64, mode uint32) syscall.Errno {
	if mode&^unix.FALLOC_FL_KEEP_SIZE != 0 {
		return syscall.EOPNOTSUPP
	}
	return h.lf.Allocate(ctx, off, size, mode)
}
