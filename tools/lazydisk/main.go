// Command lazydisk is a FUSE pass-through file system that simulates a disk
// whose unsynced data dies with the power, in the spirit of Jepsen's LazyFS.
//
// Usage:
//
//	lazydisk [--writeback-after 30s] [--writeback-interval 5s] [--max-dirty 256MiB] <backing-dir> <mountpoint>
//
// It serves <backing-dir> at <mountpoint> with go-fuse's loopback, except
// that file data is cached the way a kernel page cache caches it, and the
// cache is lost when the process dies:
//
//   - Data written with write() is held in memory per backing inode (shared by
//     every handle and hard link) and is not written to the backing file until
//     (a) fsync or fdatasync on any handle of the inode, which writes the
//     inode's dirty data to the backing file and fsyncs it before replying;
//     (b) the inode has been dirty for --writeback-after (Linux's
//     dirty_expire_centisecs), checked every --writeback-interval
//     (dirty_writeback_centisecs); (c) the dirty total exceeds --max-dirty,
//     which writes back the longest-dirty inodes, synchronously in the write
//     that crossed the limit; or (d) SIGTERM or SIGINT.
//   - close() persists nothing.
//   - Reads see the dirty data laid over the backing file, and stat, fstat and
//     lookups report the size including dirty data past the backing file's
//     end. The kernel positions O_APPEND writes at that size.
//   - Metadata operations (create, mkdir, unlink, rmdir, rename, link,
//     symlink, chmod, chown, utimens) reach the backing directory at once, as
//     on a journaling file system that commits metadata immediately. truncate
//     and ftruncate change the backing file at once and drop the dirty bytes
//     beyond the new size. fsync of a directory fsyncs the backing directory.
//   - SIGKILL is the power loss: whatever was not synced or written back is
//     gone. SIGUSR1 is a crash without unmounting: all dirty data is dropped at
//     once and the mount keeps serving. SIGTERM and SIGINT are a polite
//     shutdown: everything is written back and synced, the file system is
//     unmounted, and lazydisk exits 0. If the mount is busy it is detached
//     lazily, and lazydisk keeps serving, writing every write through, until
//     the last open file is closed.
//
// The mount uses allow_other and default_permissions (lazydisk runs as root;
// the kernel checks callers against the backing files' modes), mounts with
// mount(2) directly (never through fusermount), has no
// kernel writeback cache, so every write() reaches lazydisk, and caches no
// attributes or entries, so sizes are always fresh. Files created through the
// mount are owned by the creating caller.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	iofs "io/fs"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

const about = `Usage: lazydisk [flags] <backing-dir> <mountpoint>

Serves <backing-dir> at <mountpoint> through FUSE as a disk with a volatile
write cache, like Jepsen's LazyFS:

  - Written data stays in lazydisk's memory (visible to every reader through
    the mount) until the file is fsync'd or fdatasync'd, until it has been
    dirty for --writeback-after (checked every --writeback-interval), or until
    the dirty total exceeds --max-dirty (the oldest files are written back).
    Closing a file persists nothing.
  - Metadata (create, rename, unlink, link, mkdir, chmod, chown, truncate)
    reaches <backing-dir> at once.
  - SIGKILL is the power loss: unsynced data is gone.
  - SIGUSR1 is a crash without unmounting: all dirty data is dropped and the
    mount keeps serving.
  - SIGTERM or SIGINT is a polite shutdown: everything is written back and
    synced, then the mount is unmounted.

Runs as root (or with CAP_SYS_ADMIN); other users may use the mount.

Flags:
`

type config struct {
	writebackAfter    time.Duration
	writebackInterval time.Duration
	maxDirty          byteSize
	backingDir        string
	mountpoint        string
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseArgs(args, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "lazydisk: %v\nRun 'lazydisk --help' for usage.\n", err)
		return 2
	}
	log.SetOutput(stderr)
	log.SetPrefix("lazydisk: ")
	return serve(cfg)
}

func parseArgs(args []string, stdout io.Writer) (config, error) {
	cfg := config{maxDirty: 256 << 20}
	flags := flag.NewFlagSet("lazydisk", flag.ContinueOnError)
	flags.SetOutput(io.Discard)
	flags.DurationVar(&cfg.writebackAfter, "writeback-after", 30*time.Second,
		"write back data that has been dirty this long, like dirty_expire_centisecs")
	flags.DurationVar(&cfg.writebackInterval, "writeback-interval", 5*time.Second,
		"how often to look for such data, like dirty_writeback_centisecs")
	flags.Var(&cfg.maxDirty, "max-dirty",
		"write back the oldest dirty files when more than this is dirty (bytes, or with a unit: KiB, MiB, GiB, KB, MB, GB)")
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(stdout, flags)
		}
		return cfg, err
	}

	if cfg.writebackAfter <= 0 {
		return cfg, fmt.Errorf("--writeback-after must be positive, got %s", cfg.writebackAfter)
	}
	if cfg.writebackInterval <= 0 {
		return cfg, fmt.Errorf("--writeback-interval must be positive, got %s", cfg.writebackInterval)
	}
	if cfg.maxDirty <= 0 {
		return cfg, fmt.Errorf("--max-dirty must be positive, got %s", cfg.maxDirty.String())
	}

	switch flags.NArg() {
	case 0:
		return cfg, errors.New("missing <backing-dir> and <mountpoint>")
	case 1:
		return cfg, errors.New("missing <mountpoint>")
	case 2:
	default:
		return cfg, fmt.Errorf("too many arguments: %q (flags go before <backing-dir>)", flags.Args()[2:])
	}
	var err error
	if cfg.backingDir, err = existingDir("<backing-dir>", flags.Arg(0)); err != nil {
		return cfg, err
	}
	if cfg.mountpoint, err = existingDir("<mountpoint>", flags.Arg(1)); err != nil {
		return cfg, err
	}
	// The loopback reaches the backing files by path; through its own mount
	// it would call itself.
	if within(cfg.mountpoint, cfg.backingDir) || within(cfg.backingDir, cfg.mountpoint) {
		return cfg, fmt.Errorf("<backing-dir> %s and <mountpoint> %s must not contain each other", cfg.backingDir, cfg.mountpoint)
	}
	return cfg, nil
}

func printUsage(w io.Writer, flags *flag.FlagSet) {
	fmt.Fprint(w, about)
	flags.VisitAll(func(f *flag.Flag) {
		fmt.Fprintf(w, "  --%s %s (default %s)\n      %s\n", f.Name, flagKind(f), f.DefValue, f.Usage)
	})
}

func flagKind(f *flag.Flag) string {
	if _, ok := f.Value.(*byteSize); ok {
		return "size"
	}
	return "duration"
}

// existingDir resolves path to an absolute path without symlinks and checks
// that it is a directory.
func existingDir(what, path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err == nil {
		abs, err = filepath.EvalSymlinks(abs)
	}
	if errors.Is(err, iofs.ErrNotExist) {
		return "", fmt.Errorf("%s %s does not exist", what, path)
	}
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", what, path, err)
	}
	st, err := os.Stat(abs)
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", what, path, err)
	}
	if !st.IsDir() {
		return "", fmt.Errorf("%s %s is not a directory", what, path)
	}
	return abs, nil
}

// within reports whether path is dir or lies under it.
func within(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

// byteSize is a flag value: a byte count with an optional unit.
type byteSize int64

var byteUnits = []struct {
	suffix string
	factor int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"T", 1 << 40},
	{"B", 1},
}

func (b *byteSize) Set(s string) error {
	number, factor := strings.TrimSpace(s), int64(1)
	for _, u := range byteUnits {
		if rest, ok := strings.CutSuffix(number, u.suffix); ok {
			number, factor = strings.TrimSpace(rest), u.factor
			break
		}
	}
	n, err := strconv.ParseInt(number, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/factor {
		return fmt.Errorf("want a byte count such as 268435456, 256MiB or 1GB")
	}
	*b = byteSize(n * factor)
	return nil
}

func (b *byteSize) String() string {
	n := int64(*b)
	for _, u := range []struct {
		suffix string
		factor int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.factor && n%u.factor == 0 {
			return fmt.Sprintf("%d%s", n/u.factor, u.suffix)
		}
	}
	return strconv.FormatInt(n, 10)
}

func serve(cfg config) int {
	// Creates through the mount arrive with the caller's umask already
	// applied by the kernel; lazydisk's own must not mask them again.
	syscall.Umask(0)

	d := newDisk(cfg.writebackAfter, int64(cfg.maxDirty))
	loopback, err := fs.NewLoopbackRoot(cfg.backingDir)
	if err != nil {
		log.Print(err)
		return 1
	}
	rootData := loopback.(*fs.LoopbackNode).RootData
	root := &node{LoopbackNode: fs.LoopbackNode{RootData: rootData}, disk: d}
	rootData.RootNode = root

	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGUSR1)

	noCaching := time.Duration(0)
	server, err := fs.Mount(cfg.mountpoint, root, &fs.Options{
		MountOptions: fuse.MountOptions{
			AllowOther:  true,
			FsName:      "lazydisk",
			Name:        "lazydisk",
			DirectMount: true,
			// mount(2)'s own error (EPERM, ENODEV) instead of "fusermount not
			// found": nodes have no fusermount.
			DirectMountStrict: true,
			Options:           []string{"default_permissions"},
		},
		EntryTimeout:    &noCaching,
		AttrTimeout:     &noCaching,
		NegativeTimeout: &noCaching,
	})
	if err != nil {
		log.Printf("mounting %s: %v", cfg.mountpoint, err)
		return 1
	}
	log.Printf("serving %s at %s; writeback after %s (checked every %s) or above %s dirty",
		cfg.backingDir, cfg.mountpoint, cfg.writebackAfter, cfg.writebackInterval, cfg.maxDirty.String())

	unmounted := make(chan struct{})
	go func() {
		server.Wait()
		close(unmounted)
	}()
	go func() {
		for now := range time.Tick(cfg.writebackInterval) {
			d.writebackExpired(now)
		}
	}()

	for {
		select {
		case sig := <-signals:
			if sig == syscall.SIGUSR1 {
				files, bytes := d.crash()
				log.Printf("SIGUSR1: crashed: dropped %d dirty bytes of %d files", bytes, files)
				continue
			}
			log.Printf("%s: writing back and unmounting", sig)
			return shutdown(server, d, cfg.mountpoint, signals, unmounted)
		case <-unmounted:
			log.Printf("%s was unmounted; writing back", cfg.mountpoint)
			if _, _, err := d.writebackAll(); err != nil {
				log.Print(err)
				return 1
			}
			return 0
		}
	}
}

func shutdown(server *fuse.Server, d *disk, mountpoint string, signals <-chan os.Signal, unmounted <-chan struct{}) int {
	d.writeThrough.Store(true)
	files, bytes, err := d.writebackAll()
	log.Printf("wrote back and synced %d bytes of %d files", bytes, files)
	code := 0
	if err != nil {
		log.Print(err)
		code = 1
	}
	if err := server.Unmount(); err != nil {
		log.Printf("unmounting: %v; detaching lazily and serving write-through until the last open file is closed", err)
		if err := syscall.Unmount(mountpoint, syscall.MNT_DETACH); err != nil {
			log.Printf("detaching %s: %v", mountpoint, err)
			return 1
		}
	wait:
		for {
			select {
			case <-unmounted:
				break wait
			case sig := <-signals:
				if sig != syscall.SIGUSR1 {
					log.Printf("%s: exiting with the detached mount still in use", sig)
					return code
				}
			}
		}
	}
	log.Print("unmounted")
	return code
}
