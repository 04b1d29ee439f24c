package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// lazydiskBin is the binary under test, built once by TestMain.
var lazydiskBin string

func TestMain(m *testing.M) {
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	dir, err := os.MkdirTemp("", "lazydisk-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	lazydiskBin = filepath.Join(dir, "lazydisk")
	build := exec.Command("go", "build", "-trimpath", "-o", lazydiskBin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building lazydisk: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// requireFUSE skips a test that cannot mount here, or fails it when
// LAZYDISK_REQUIRE_FUSE is set (CI, where a skip would hide the proof).
func requireFUSE(t *testing.T) {
	t.Helper()
	skip := t.Skipf
	if os.Getenv("LAZYDISK_REQUIRE_FUSE") != "" {
		skip = t.Fatalf
	}
	if os.Geteuid() != 0 {
		skip("mounting FUSE needs root")
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		skip("no FUSE: %v", err)
	}
}

// lockedBuffer collects the daemon's log.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// daemon is a running lazydisk.
type daemon struct {
	t          *testing.T
	mountpoint string
	cmd        *exec.Cmd
	log        *lockedBuffer
	exited     chan struct{}
	waitErr    error
}

// testDirs makes an empty backing directory and mountpoint.
func testDirs(t *testing.T) (backing, mountpoint string) {
	base := t.TempDir()
	backing, mountpoint = filepath.Join(base, "backing"), filepath.Join(base, "mnt")
	for _, dir := range []string{backing, mountpoint} {
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return backing, mountpoint
}

// startDaemon runs lazydisk and waits for its mount. The test's cleanup kills
// it and detaches whatever is left mounted.
func startDaemon(t *testing.T, backing, mountpoint string, flags ...string) *daemon {
	t.Helper()
	requireFUSE(t)
	d := &daemon{
		t:          t,
		mountpoint: mountpoint,
		cmd:        exec.Command(lazydiskBin, append(flags, backing, mountpoint)...),
		log:        &lockedBuffer{},
		exited:     make(chan struct{}),
	}
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	// A test binary killed before its cleanups takes its daemons with it.
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		d.waitErr = d.cmd.Wait()
		close(d.exited)
	}()
	t.Cleanup(func() {
		d.kill()
		detach(t, mountpoint)
		if t.Failed() {
			t.Logf("lazydisk log:\n%s", d.log.String())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for !isMounted(t, mountpoint) {
		select {
		case <-d.exited:
			t.Fatalf("lazydisk exited before mounting: %v\n%s", d.waitErr, d.log.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not mounted after 10s\n%s", mountpoint, d.log.String())
		}
	}
	return d
}

func (d *daemon) kill() {
	select {
	case <-d.exited:
	default:
		d.cmd.Process.Kill()
		<-d.exited
	}
}

// powerLoss kills lazydisk with SIGKILL and detaches its dead mount.
func (d *daemon) powerLoss() {
	d.t.Helper()
	d.kill()
	detach(d.t, d.mountpoint)
}

func (d *daemon) signal(sig syscall.Signal) {
	d.t.Helper()
	if err := d.cmd.Process.Signal(sig); err != nil {
		d.t.Fatal(err)
	}
}

// exitCode waits for lazydisk to exit and returns its exit code.
func (d *daemon) exitCode(timeout time.Duration) int {
	d.t.Helper()
	select {
	case <-d.exited:
	case <-time.After(timeout):
		d.t.Fatalf("lazydisk still running after %s\n%s", timeout, d.log.String())
	}
	var exitErr *exec.ExitError
	if errors.As(d.waitErr, &exitErr) {
		return exitErr.ExitCode()
	}
	if d.waitErr != nil {
		d.t.Fatal(d.waitErr)
	}
	return 0
}

func (d *daemon) running() bool {
	select {
	case <-d.exited:
		return false
	default:
		return true
	}
}

func isMounted(t *testing.T, dir string) bool {
	t.Helper()
	f, err := os.Open("/proc/self/mounts")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lines := bufio.NewScanner(f)
	for lines.Scan() {
		if fields := strings.Fields(lines.Text()); len(fields) > 1 && fields[1] == dir {
			return true
		}
	}
	return false
}

func detach(t *testing.T, dir string) {
	t.Helper()
	for isMounted(t, dir) {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("detaching %s: %v", dir, err)
			return
		}
	}
}

// eventually polls cond until it holds or timeout passes.
func eventually(timeout time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(timeout); ; time.Sleep(20 * time.Millisecond) {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// readMaybe is readFile for polling: a missing file reads as "<missing>".
func readMaybe(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "<" + err.Error() + ">"
	}
	return string(data)
}

func wantContent(t *testing.T, path, want string) {
	t.Helper()
	if got := readFile(t, path); got != want {
		t.Errorf("%s holds %q, want %q", path, got, want)
	}
}

func wantSize(t *testing.T, path string, want int64) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() != want {
		t.Errorf("stat %s: size %d, want %d", path, st.Size(), want)
	}
}

func openFile(t *testing.T, path string, flag int) *os.File {
	t.Helper()
	f, err := os.OpenFile(path, flag, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func write(t *testing.T, f *os.File, s string) {
	t.Helper()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

func fsync(t *testing.T, f *os.File) {
	t.Helper()
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
}

func TestUnsyncedWritesVisibleButNotPersisted(t *testing.T) {
	backing, mnt := testDirs(t)
	startDaemon(t, backing, mnt)
	path, backingPath := filepath.Join(mnt, "appendonly.aof"), filepath.Join(backing, "appendonly.aof")

	first := openFile(t, path, os.O_CREATE|os.O_WRONLY|os.O_APPEND)
	second := openFile(t, path, os.O_WRONLY|os.O_APPEND)
	write(t, first, "one,")
	write(t, second, "two,")
	write(t, first, "three,")
	write(t, second, "four.")
	// A fresh open looks the file up again (once the kernel's zero entry
	// timeout has passed, counted in jiffies); the O_APPEND position comes
	// from the size that lookup and the permission check's getattr report.
	time.Sleep(20 * time.Millisecond)
	third := openFile(t, path, os.O_WRONLY|os.O_APPEND)
	write(t, third, "five.")
	want := "one,two,three,four.five."
	wantContent(t, path, want)
	wantSize(t, path, int64(len(want)))
	if st, err := first.Stat(); err != nil || st.Size() != int64(len(want)) {
		t.Errorf("fstat: %v, %v; want size %d", st.Size(), err, len(want))
	}
	wantContent(t, backingPath, "")

	// Overwrite in the middle and write past the end, leaving a hole.
	rw := openFile(t, path, os.O_RDWR)
	if _, err := rw.WriteAt([]byte("TWO"), 4); err != nil {
		t.Fatal(err)
	}
	if _, err := rw.WriteAt([]byte("!"), int64(len(want))+2); err != nil {
		t.Fatal(err)
	}
	want = "one,TWO,three,four.five.\x00\x00!"
	wantContent(t, path, want)

	// A hard link is the same inode, so it sees the same dirty data.
	link := filepath.Join(mnt, "link.aof")
	if err := os.Link(path, link); err != nil {
		t.Fatal(err)
	}
	wantContent(t, link, want)
	wantSize(t, link, int64(len(want)))
	entries, err := os.ReadDir(mnt)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if info, err := e.Info(); err != nil || info.Size() != int64(len(want)) {
			t.Errorf("readdir entry %s: size %v (%v), want %d", e.Name(), info.Size(), err, len(want))
		}
	}

	for _, f := range []*os.File{first, second, third, rw} {
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	wantContent(t, backingPath, "")
	wantContent(t, path, want)
}

func TestFsyncPersistsAndSurvivesPowerLoss(t *testing.T) {
	backing, mnt := testDirs(t)
	d := startDaemon(t, backing, mnt)
	path, backingPath := filepath.Join(mnt, "dump.rdb"), filepath.Join(backing, "dump.rdb")

	f := openFile(t, path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC)
	write(t, f, "synced-1\n")
	fsync(t, f)
	wantContent(t, backingPath, "synced-1\n")
	write(t, f, "synced-2\n")
	fsync(t, f)
	synced := "synced-1\nsynced-2\n"
	wantContent(t, backingPath, synced)
	write(t, f, "lost\n")
	wantContent(t, path, synced+"lost\n")
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	wantContent(t, backingPath, synced)

	d.powerLoss()
	wantContent(t, backingPath, synced)

	startDaemon(t, backing, mnt)
	wantContent(t, path, synced)
	wantSize(t, path, int64(len(synced)))
}

func TestUnsyncedAppendsLostAtPowerLoss(t *testing.T) {
	backing, mnt := testDirs(t)
	d := startDaemon(t, backing, mnt)
	path, backingPath := filepath.Join(mnt, "appendonly.aof"), filepath.Join(backing, "appendonly.aof")

	f := openFile(t, path, os.O_CREATE|os.O_WRONLY|os.O_APPEND)
	write(t, f, "SET a 1\n")
	write(t, f, "SET b 2\n")
	if err := unix.Fdatasync(int(f.Fd())); err != nil {
		t.Fatal(err)
	}
	synced := "SET a 1\nSET b 2\n"
	wantContent(t, backingPath, synced)
	write(t, f, "SET c 3\n")
	write(t, f, "SET d 4\n")
	wantSize(t, path, int64(len(synced)+16))

	d.powerLoss()
	wantContent(t, backingPath, synced)
}

func TestWritebackAfterAge(t *testing.T) {
	backing, mnt := testDirs(t)
	d := startDaemon(t, backing, mnt, "--writeback-after", "1s", "--writeback-interval", "200ms")
	path, backingPath := filepath.Join(mnt, "aged"), filepath.Join(backing, "aged")

	if err := os.WriteFile(path, []byte("aged data\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	written := time.Now()
	wantContent(t, backingPath, "")
	if !eventually(3*time.Second, func() bool { return readMaybe(backingPath) == "aged data\n" }) {
		t.Fatalf("not written back after 3s: backing holds %q", readMaybe(backingPath))
	}
	elapsed := time.Since(written)
	t.Logf("written back after %s", elapsed.Round(time.Millisecond))
	if elapsed < 800*time.Millisecond || elapsed > 2500*time.Millisecond {
		t.Errorf("written back after %s, want about 1-1.2s", elapsed)
	}

	d.powerLoss()
	wantContent(t, backingPath, "aged data\n")
}

func TestMaxDirtyWritesBackOldest(t *testing.T) {
	backing, mnt := testDirs(t)
	startDaemon(t, backing, mnt, "--max-dirty", "64KiB")

	older, newer := bytes.Repeat([]byte("o"), 40<<10), bytes.Repeat([]byte("n"), 40<<10)
	if err := os.WriteFile(filepath.Join(mnt, "older"), older, 0o644); err != nil {
		t.Fatal(err)
	}
	wantSize(t, filepath.Join(backing, "older"), 0)
	if err := os.WriteFile(filepath.Join(mnt, "newer"), newer, 0o644); err != nil {
		t.Fatal(err)
	}
	wantContent(t, filepath.Join(backing, "older"), string(older))
	wantSize(t, filepath.Join(backing, "newer"), 0)
	wantContent(t, filepath.Join(mnt, "newer"), string(newer))
}

func TestSIGTERMWritesBackAndUnmounts(t *testing.T) {
	backing, mnt := testDirs(t)
	d := startDaemon(t, backing, mnt)

	files := map[string]string{"a": "first file\n", "b": "second file\n"}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(mnt, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		wantContent(t, filepath.Join(backing, name), "")
	}

	d.signal(syscall.SIGTERM)
	if code := d.exitCode(10 * time.Second); code != 0 {
		t.Errorf("exit code %d, want 0\n%s", code, d.log.String())
	}
	if isMounted(t, mnt) {
		t.Errorf("%s still mounted", mnt)
	}
	for name, content := range files {
		wantContent(t, filepath.Join(backing, name), content)
	}
}

func TestSIGTERMWithOpenFileDetachesAndWritesThrough(t *testing.T) {
	backing, mnt := testDirs(t)
	d := startDaemon(t, backing, mnt)
	backingPath := filepath.Join(backing, "open")

	f := openFile(t, filepath.Join(mnt, "open"), os.O_CREATE|os.O_WRONLY|os.O_APPEND)
	write(t, f, "before;")
	d.signal(syscall.SIGTERM)
	if !eventually(5*time.Second, func() bool { return !isMounted(t, mnt) }) {
		t.Fatalf("%s still mounted 5s after SIGTERM", mnt)
	}
	wantContent(t, backingPath, "before;")
	if !d.running() {
		t.Fatalf("lazydisk exited with a file still open: %v", d.waitErr)
	}
	write(t, f, "after;")
	wantContent(t, backingPath, "before;after;")

	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if code := d.exitCode(10 * time.Second); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
}

func TestSIGUSR1DropsDirtyData(t *testing.T) {
	backing, mnt := testDirs(t)
	d := startDaemon(t, backing, mnt)
	aof, rdb := filepath.Join(mnt, "appendonly.aof"), filepath.Join(mnt, "dump.rdb")

	f := openFile(t, aof, os.O_CREATE|os.O_RDWR|os.O_APPEND)
	write(t, f, "kept;")
	fsync(t, f)
	write(t, f, "dropped;")
	wantContent(t, aof, "kept;dropped;")

	// An overwrite that does not change the size: the kernel's page cache
	// must not keep serving the dropped bytes.
	g := openFile(t, rdb, os.O_CREATE|os.O_RDWR)
	write(t, g, "AAAA")
	fsync(t, g)
	if _, err := g.WriteAt([]byte("BB"), 0); err != nil {
		t.Fatal(err)
	}
	wantContent(t, rdb, "BBAA")

	d.signal(syscall.SIGUSR1)
	// Read through the open handle first: a fresh open would drop the
	// kernel's cached pages anyway.
	buf := make([]byte, 4)
	readOpen := func() string {
		if _, err := g.ReadAt(buf, 0); err != nil {
			return err.Error()
		}
		return string(buf)
	}
	if !eventually(2*time.Second, func() bool { return readOpen() == "AAAA" }) {
		t.Fatalf("after SIGUSR1 the open handle reads %q, want AAAA", readOpen())
	}
	wantContent(t, rdb, "AAAA")
	wantContent(t, aof, "kept;")
	wantSize(t, aof, 5)

	// The mount keeps serving.
	write(t, f, "again;")
	wantContent(t, aof, "kept;again;")
	wantContent(t, filepath.Join(backing, "appendonly.aof"), "kept;")
	if !d.running() {
		t.Fatal("lazydisk exited")
	}
}

func TestRenameOfSyncedFileSurvivesPowerLoss(t *testing.T) {
	backing, mnt := testDirs(t)
	d := startDaemon(t, backing, mnt)

	// Valkey's pattern for the RDB and the AOF manifest: write a temp file,
	// fsync it, rename it over the old one.
	if err := os.WriteFile(filepath.Join(mnt, "dump.rdb"), []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	tmp := openFile(t, filepath.Join(mnt, "temp-123.rdb"), os.O_CREATE|os.O_WRONLY|os.O_EXCL)
	write(t, tmp, "new snapshot")
	fsync(t, tmp)
	if err := tmp.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(mnt, "temp-123.rdb"), filepath.Join(mnt, "dump.rdb")); err != nil {
		t.Fatal(err)
	}

	// The same pattern without the fsync of the data after its first part.
	manifest := openFile(t, filepath.Join(mnt, "manifest.tmp"), os.O_CREATE|os.O_WRONLY|os.O_EXCL)
	write(t, manifest, "synced;")
	fsync(t, manifest)
	write(t, manifest, "unsynced;")
	if err := manifest.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(mnt, "manifest.tmp"), filepath.Join(mnt, "manifest")); err != nil {
		t.Fatal(err)
	}
	wantContent(t, filepath.Join(mnt, "manifest"), "synced;unsynced;")

	dir, err := os.Open(mnt)
	if err != nil {
		t.Fatal(err)
	}
	if err := dir.Sync(); err != nil {
		t.Errorf("fsync of the directory: %v", err)
	}
	dir.Close()

	d.powerLoss()
	wantContent(t, filepath.Join(backing, "dump.rdb"), "new snapshot")
	wantContent(t, filepath.Join(backing, "manifest"), "synced;")
	for _, gone := range []string{"temp-123.rdb", "manifest.tmp"} {
		if _, err := os.Lstat(filepath.Join(backing, gone)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: %v, want it renamed away", gone, err)
		}
	}
}

func TestNonRootCallerOwnsCreatedFiles(t *testing.T) {
	requireFUSE(t)
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	backing, mnt := testDirs(t)
	// Let uid 1000 reach and write the directories t.TempDir made private.
	base := filepath.Dir(backing)
	for _, dir := range []string{filepath.Dir(base), base, mnt} {
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(backing, 0o777); err != nil {
		t.Fatal(err)
	}
	startDaemon(t, backing, mnt)
	path := filepath.Join(mnt, "owned")

	runAs := func(uid uint32, script string) (string, error) {
		cmd := exec.Command(sh, "-c", script, "sh", path)
		cmd.Dir = "/"
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := runAs(1000, `umask 022 && printf hello > "$1" && printf ' world' >> "$1" && cat "$1"`)
	if err != nil || out != "hello world" {
		t.Fatalf("uid 1000 writing through the mount: %q, %v", out, err)
	}

	info, err := os.Lstat(filepath.Join(backing, "owned"))
	if err != nil {
		t.Fatal(err)
	}
	st := info.Sys().(*syscall.Stat_t)
	if st.Uid != 1000 || st.Gid != 1000 || info.Mode().Perm() != 0o644 {
		t.Errorf("backing file owned by %d:%d with mode %v, want 1000:1000 and -rw-r--r--", st.Uid, st.Gid, info.Mode().Perm())
	}
	wantContent(t, path, "hello world")

	// default_permissions: the kernel enforces the backing file's mode.
	if out, err := runAs(1001, `printf x >> "$1"`); err == nil {
		t.Errorf("uid 1001 appended to a 0644 file of uid 1000: %q", out)
	}
}

func TestTruncateTrimsDirtyData(t *testing.T) {
	backing, mnt := testDirs(t)
	d := startDaemon(t, backing, mnt)
	path, backingPath := filepath.Join(mnt, "data"), filepath.Join(backing, "data")

	f := openFile(t, path, os.O_CREATE|os.O_RDWR)
	write(t, f, "0123456789")
	fsync(t, f)
	write(t, f, "abcdefghij")
	if err := f.Truncate(15); err != nil {
		t.Fatal(err)
	}
	wantSize(t, path, 15)
	wantContent(t, path, "0123456789abcde")
	wantSize(t, backingPath, 15) // truncate is metadata: applied at once
	fsync(t, f)
	wantContent(t, backingPath, "0123456789abcde")

	// Path-based truncate below the synced part, then dirty data after it.
	if err := os.Truncate(path, 4); err != nil {
		t.Fatal(err)
	}
	wantContent(t, backingPath, "0123")
	if _, err := f.WriteAt([]byte("XYZ"), 4); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, 6); err != nil {
		t.Fatal(err)
	}
	wantContent(t, path, "0123XY")
	d.powerLoss()
	wantContent(t, backingPath, "0123\x00\x00")
}

func TestLargeFile(t *testing.T) {
	backing, mnt := testDirs(t)
	startDaemon(t, backing, mnt)
	path := filepath.Join(mnt, "large")

	rng := rand.New(rand.NewPCG(3, 4))
	want := make([]byte, 16<<20)
	for i := range want {
		want[i] = byte(rng.Uint32())
	}
	f := openFile(t, path, os.O_CREATE|os.O_RDWR)
	for off := 0; off < len(want); off += 1 << 20 {
		if _, err := f.Write(want[off : off+1<<20]); err != nil {
			t.Fatal(err)
		}
	}
	for range 50 {
		off, n := rng.IntN(len(want)-4096), 1+rng.IntN(4096)
		patch := bytes.Repeat([]byte{byte(rng.Uint32())}, n)
		copy(want[off:], patch)
		if _, err := f.WriteAt(patch, int64(off)); err != nil {
			t.Fatal(err)
		}
	}
	if got := readFile(t, path); got != string(want) {
		t.Fatal("content read through the mount differs from what was written")
	}
	wantSize(t, filepath.Join(backing, "large"), 0)
	fsync(t, f)
	if got := readFile(t, filepath.Join(backing, "large")); got != string(want) {
		t.Fatal("backing file differs from what was written")
	}
}

func TestUnlinkedDirtyFiles(t *testing.T) {
	backing, mnt := testDirs(t)
	d := startDaemon(t, backing, mnt, "--writeback-after", "100ms", "--writeback-interval", "20ms")

	closed := filepath.Join(mnt, "closed")
	if err := os.WriteFile(closed, []byte("dirty, closed, unlinked"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(closed); err != nil {
		t.Fatal(err)
	}
	open := openFile(t, filepath.Join(mnt, "open"), os.O_CREATE|os.O_RDWR)
	write(t, open, "dirty, open, unlinked")
	if err := os.Remove(filepath.Join(mnt, "open")); err != nil {
		t.Fatal(err)
	}

	time.Sleep(300 * time.Millisecond) // age writeback runs on both orphans
	buf := make([]byte, 21)
	if _, err := open.ReadAt(buf, 0); err != nil || string(buf) != "dirty, open, unlinked" {
		t.Errorf("read of the unlinked file: %q, %v", buf, err)
	}
	write(t, open, "; more")
	fsync(t, open)
	if !d.running() {
		t.Fatalf("lazydisk exited: %v", d.waitErr)
	}
	entries, err := os.ReadDir(backing)
	if err != nil || len(entries) != 0 {
		t.Errorf("backing directory holds %v (%v), want nothing", entries, err)
	}
}

// TestConcurrentWritersAndWriteback has writers, readers, fsyncs, age-based
// writeback and the dirty limit all working on one file at once.
func TestConcurrentWritersAndWriteback(t *testing.T) {
	backing, mnt := testDirs(t)
	startDaemon(t, backing, mnt, "--writeback-after", "50ms", "--writeback-interval", "20ms", "--max-dirty", "256KiB")
	path := filepath.Join(mnt, "shared")

	const writers, region, chunk = 4, 256 << 10, 4 << 10
	want := make([]byte, writers*region)
	for i := range want {
		want[i] = byte(i / chunk)
	}
	f := openFile(t, path, os.O_CREATE|os.O_RDWR)
	var wg sync.WaitGroup
	errs := make(chan error, writers+1)
	for w := range writers {
		wg.Go(func() {
			for off := w * region; off < (w+1)*region; off += chunk {
				if _, err := f.WriteAt(want[off:off+chunk], int64(off)); err != nil {
					errs <- err
					return
				}
				if off%(16*chunk) == 0 {
					if err := f.Sync(); err != nil {
						errs <- err
						return
					}
				}
			}
		})
	}
	wg.Go(func() {
		buf := make([]byte, 64<<10)
		for range 40 {
			if _, err := f.ReadAt(buf, 0); err != nil && !errors.Is(err, io.EOF) {
				errs <- err
				return
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := readFile(t, path); got != string(want) {
		t.Fatal("content read through the mount differs from what was written")
	}
	fsync(t, f)
	if got := readFile(t, filepath.Join(backing, "shared")); got != string(want) {
		t.Fatal("backing file differs from what was written")
	}
}

func TestUsageAndBadArguments(t *testing.T) {
	dir := t.TempDir()
	notDir := filepath.Join(dir, "file")
	if err := os.WriteFile(notDir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args     []string
		code     int
		mentions string
	}{
		{[]string{"--help"}, 0, "--writeback-after"},
		{[]string{"--max-dirty", "12XB", dir, dir}, 2, "max-dirty"},
		{[]string{"--writeback-after", "soon", dir, dir}, 2, "writeback-after"},
		{[]string{"--writeback-interval", "0s", dir, dir}, 2, "writeback-interval"},
		{[]string{"--bogus", dir, dir}, 2, "bogus"},
		{[]string{}, 2, "<backing-dir>"},
		{[]string{dir}, 2, "<mountpoint>"},
		{[]string{filepath.Join(dir, "missing"), dir}, 2, "<backing-dir>"},
		{[]string{dir, notDir}, 2, "not a directory"},
		{[]string{dir, dir}, 2, "contain"},
	} {
		out, err := exec.Command(lazydiskBin, tc.args...).CombinedOutput()
		code := 0
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			code = exitErr.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != tc.code || !strings.Contains(string(out), tc.mentions) {
			t.Errorf("lazydisk %q: exit %d, output %q; want exit %d mentioning %q", tc.args, code, out, tc.code, tc.mentions)
		}
	}
}
