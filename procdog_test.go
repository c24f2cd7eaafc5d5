package main

// procdog's tests, in three layers that "go test ./..." runs together; each behaviour is checked
// in the one that fits it: unit tests and fuzz targets for what needs no process (parsers,
// options, the client's refusals and messages, responses, exit codes, export formats);
// integration tests (TestIt*) for what does, driving the binary TestMain builds, each in a state
// directory of its own, ending all it starts by pid; and TestRunTestSh, the golden-output tour of
// run_test.sh. Benchmarks measure procdog against the least a program of its design can cost
// (BenchmarkVsFloor) and how soon it finds a server ready (BenchmarkTimeToHealthy).

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	goversion "go/version"
	"io"
	"io/fs"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ---------------------------------------------------------------------------
// Helpers: the integration tests' world (TestMain builds the binary; itNew gives each test a state
// directory of its own and ends what it starts), and the small tools the tests share.

// codedErrorOf returns err as a *codedError, failing the test if it is not one.
func codedErrorOf(t *testing.T, err error) *codedError {
	t.Helper()
	var ce *codedError
	if !errors.As(err, &ce) {
		t.Fatalf("got error %v (%T), want a *codedError", err, err)
	}
	return ce
}

// itEqual fails the test unless got is want; what says what got is.
func itEqual[T comparable](t testing.TB, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %#v, want %#v", what, got, want)
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "procdog.cfg")
	itMust(t, os.WriteFile(path, []byte(text), 0o600))
	return path
}

func unsetenv(t *testing.T, name string) {
	t.Helper()
	t.Setenv(name, "") // restores the old value, if any, when the test ends
	os.Unsetenv(name)
}

func lookupIn(vars map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

func quoted(s string) string { return `"` + s + `"` }

var expandError = regexp.MustCompile(`^('[_A-Za-z][_A-Za-z0-9]*'|Invalid placeholder in string: line [1-9][0-9]*, col [1-9][0-9]*)$`)

// itBinary is the procdog binary that TestMain builds for the integration tests.
var itBinary string

func TestMain(m *testing.M) {
	if kind := os.Getenv("PROCDOG_TEST_SERVER"); kind != "" {
		itServer(kind)
	}
	os.Exit(itMain(m))
}

// itServer is the test binary as a server that becomes ready $DELAY after it starts, as kind
// says: tcp listens on $ADDR and answers HTTP; log prints $LINE; file makes the file $FILE;
// notify sends READY=1 to $NOTIFY_SOCKET. Then it notes the moment, in ns, in $READY, and runs
// until it is stopped.
func itServer(kind string) {
	delay, _ := time.ParseDuration(os.Getenv("DELAY"))
	time.Sleep(delay)
	for kind == "status" && !itExists(os.Getenv("FILE")) { // status says it serves, not ready
		time.Sleep(10 * time.Millisecond)
	}
	var err error
	switch kind {
	case "tcp":
		var ln net.Listener
		if ln, err = net.Listen("tcp", os.Getenv("ADDR")); err == nil {
			go http.Serve(ln, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		}
	case "log":
		fmt.Println(os.Getenv("LINE"))
	case "file":
		err = os.WriteFile(os.Getenv("FILE"), nil, 0o644)
	case "notify", "status":
		var conn net.Conn
		if conn, err = net.Dial("unixgram", os.Getenv("NOTIFY_SOCKET")); err == nil {
			_, err = conn.Write([]byte(map[string]string{"status": "STATUS=serving",
				"notify": "STATUS=warming up\nREADY=1\nSTATUS=serving"}[kind]))
		}
	}
	if err != nil {
		os.Exit(3)
	}
	os.WriteFile(os.Getenv("READY"), []byte(strconv.FormatInt(time.Now().UnixNano(), 10)), 0o644)
	select {}
}

// itServerArgs start the test binary as a server of kind, ready after delay, checked as fits.
func itServerArgs(t testing.TB, e *itEnv, kind, delay string) []string {
	exe, err := os.Executable()
	itMust(t, err)
	addr := itClosedAddr(t)
	env := map[string]string{"tcp": "tcp", "url": "tcp", "log": "log", "command": "file", "notify": "notify",
		"status": "status"}
	check := map[string][]string{"tcp": {"--health-tcp", addr}, "url": {"--health-url", "http://" + addr + "/"},
		"log": {"--health-log", "ready to accept"}, "command": {"--health-command", "test -e " + filepath.Join(e.work, "up")},
		"notify": {"--health-notify"}, "status": {"--health-notify"}}[kind]
	return append([]string{"-c", exe, "--env", "PROCDOG_TEST_SERVER=" + env[kind], "--env", "DELAY=" + delay,
		"--env", "ADDR=" + addr, "--env", "LINE=ready to accept connections", "--env", "FILE=" + filepath.Join(e.work, "up"),
		"--env", "READY=" + filepath.Join(e.work, "ready")}, check...)
}

func itMain(m *testing.M) int {
	// Most integration tests spend their time waiting for processes, not computing: twice as many
	// at once as there are cores keeps both busy. An explicit -parallel wins.
	flag.Parse()
	if p := flag.Lookup("test.parallel"); p != nil && p.Value.String() == strconv.Itoa(runtime.GOMAXPROCS(0)) {
		p.Value.Set(strconv.Itoa(2 * runtime.GOMAXPROCS(0)))
	}
	dir, err := os.MkdirTemp("", "procdog-it-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	defer os.RemoveAll(dir)
	itBinary = filepath.Join(dir, "procdog")
	args := []string{"build", "-o", itBinary}
	if itRaceEnabled() && os.Getenv("PROCDOG_RACE_MONITORS") != "" {
		// The monitors serve concurrently: built with the race detector too, cleanup fails a test
		// whose monitors reported a race in their logs. It is several times slower, so only on
		// request.
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, ".")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "building procdog: %v\n", err)
		return 3
	}
	return m.Run()
}

func itRaceEnabled() bool {
	info, ok := debug.ReadBuildInfo()
	return ok && slices.ContainsFunc(info.Settings, func(s debug.BuildSetting) bool {
		return s.Key == "-race" && s.Value == "true"
	})
}

// Time bounds of the integration tests.
const (
	itCommandTimeout = 30 * time.Second // one procdog command, however loaded the machine
	itSoon           = 5 * time.Second  // something that should happen at once

	// itWindow is the linger time, in seconds, of a monitor that a test talks to after its process
	// has exited: as long as one command may take, so that a few commands fit however slow or
	// loaded the machine. No test waits for such a monitor to end (the cleanup kills it): one that
	// must see a linger end uses a short linger (0.2), or ends the monitor with SIGTERM.
	itWindow     = "30"
	itWindowWait = 30*time.Second + itSoon // for a monitor with a linger of at most itWindow to go away
)

// itEnv is one test's private procdog world. It remembers every name and pid it sees, for its cleanup to end.
type itEnv struct {
	t     testing.TB
	state string // PROCDOG_DIR
	home  string // HOME: no ~/.procdog.cfg of the user's takes part
	work  string // the client's working directory

	mu    sync.Mutex
	env   []string // extra environment, NAME=value
	names map[string]bool
	pids  map[int]bool
}

func itNew(t testing.TB) *itEnv {
	t.Helper()
	// Not t.TempDir: a subtest's long name would make the socket path too long for a Unix socket.
	state, err := os.MkdirTemp("", "procdog-it-")
	itMust(t, err)
	e := &itEnv{t: t, state: state, home: t.TempDir(), work: t.TempDir(),
		names: map[string]bool{}, pids: map[int]bool{}}
	// Registered after the TempDirs, so it runs before they are removed.
	t.Cleanup(func() {
		e.cleanup()
		os.RemoveAll(state)
	})
	return e
}

// itParallel is itNew for a test that runs in parallel with others.
func itParallel(t *testing.T) *itEnv {
	t.Helper()
	t.Parallel()
	return itNew(t)
}

func (e *itEnv) locked(f func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	f()
}

func (e *itEnv) setenv(name, value string) {
	e.locked(func() { e.env = append(e.env, name+"="+value) })
}

func (e *itEnv) track(pid int) { e.locked(func() { e.pids[pid] = true }) }

// name remembers NAME for the cleanup.
func (e *itEnv) name(name string) { e.locked(func() { e.names[name] = true }) }

// environ is the client's environment: the test's own, minus what could point procdog at a user's
// state, config or variables.
func (e *itEnv) environ() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if name == "PROCDOG_DIR" || name == "HOME" || name == "BADENVVAR" || name == "GOMAXPROCS" || strings.HasPrefix(name, "IT_") {
			continue
		}
		env = append(env, kv)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	env = append(env, "PROCDOG_DIR="+e.state, "HOME="+e.home)
	return append(env, e.env...)
}

// command is procdog with args, in this test's world, not yet started.
func (e *itEnv) command(ctx context.Context, args ...string) *exec.Cmd {
	if len(args) >= 2 && !strings.HasPrefix(args[0], "-") && !strings.HasPrefix(args[1], "-") {
		e.name(args[1])
	}
	cmd := exec.CommandContext(ctx, itBinary, args...)
	cmd.Dir = e.work
	cmd.Env = e.environ()
	// A pipe still open after procdog has exited means something it started holds it: fail then,
	// rather than at the command timeout, but give a loaded machine time to deliver the output. So
	// every command checks what "procdog start ... | cat" needs: EOF once procdog has exited.
	cmd.WaitDelay = 10 * time.Second
	return cmd
}

// itResult is what one procdog command did.
type itResult struct {
	args           []string
	stdout, stderr string
	code           int
}

func (r itResult) String() string {
	return fmt.Sprintf("procdog %q\n  stdout: %q\n  stderr: %q\n  exit:   %d", r.args, r.stdout, r.stderr, r.code)
}

func (r itResult) line() string { return strings.TrimSuffix(r.stdout, "\n") }

func (e *itEnv) run(args ...string) itResult {
	e.t.Helper()
	return e.runIn(e.work, args...)
}

func (e *itEnv) runIn(dir string, args ...string) itResult {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), itCommandTimeout)
	defer cancel()
	cmd := e.command(ctx, args...)
	cmd.Dir = dir
	return e.finish(ctx, cmd, args)
}

// finish runs cmd to the end and notes the pids it printed for the cleanup.
func (e *itEnv) finish(ctx context.Context, cmd *exec.Cmd, args []string) itResult {
	e.t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := itResult{args: args, stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ctx.Err() == nil:
		r.code = ee.ExitCode()
	default:
		e.t.Fatalf("%q did not finish: %v\n%s", args, err, r)
	}
	e.notePids(r.stdout)
	return r
}

// itPidRE finds the pids in a response line, and in its JSON.
var itPidRE = regexp.MustCompile(`(?:pid=|"pid":)(\d+)`)

func (e *itEnv) notePids(out string) {
	for _, n := range itInts(itPidRE, out) {
		e.track(n)
	}
}

// itInts are the integers that re's first group matches in text.
func itInts(re *regexp.Regexp, text string) []int {
	var ns []int
	for _, m := range re.FindAllStringSubmatch(text, -1) {
		n, _ := strconv.Atoi(m[1])
		ns = append(ns, n)
	}
	return ns
}

// expect runs procdog and fails unless stdout is the line stdout (nothing if ""), stderr the lines
// stderr (nothing if "") and the exit code is code. In both, {N} stands for an integer.
func (e *itEnv) expect(stdout, stderr string, code int, args ...string) itResult {
	e.t.Helper()
	return e.check(e.runIn(e.work, args...), stdout, stderr, code)
}

func (e *itEnv) expectIn(dir, stdout, stderr string, code int, args ...string) itResult {
	e.t.Helper()
	return e.check(e.runIn(dir, args...), stdout, stderr, code)
}

// check fails unless r is as expect says; with --json, each line printed must be JSON too.
func (e *itEnv) check(r itResult, stdout, stderr string, code int) itResult {
	e.t.Helper()
	if !itMatch(stdout, r.stdout) || !itMatch(stderr, r.stderr) || r.code != code {
		e.t.Fatalf("unexpected result of\n%s\nwant\n  stdout: %q\n  stderr: %q\n  exit:   %d",
			r, itLines(stdout), itLines(stderr), code)
	}
	for _, line := range strings.Split(r.line(), "\n") {
		if slices.Contains(r.args, "--json") && line != "" && !json.Valid([]byte(line)) {
			e.t.Fatalf("%s\nprinted a line that is not JSON: %q", r, line)
		}
	}
	return r
}

func itLines(s string) string {
	if s == "" {
		return ""
	}
	return s + "\n"
}

// itMatch tells whether got is want, as lines, with {N} matching an integer.
func itMatch(want, got string) bool {
	parts := strings.Split(itLines(want), "{N}")
	for i := range parts {
		parts[i] = regexp.QuoteMeta(parts[i])
	}
	return regexp.MustCompile(`\A` + strings.Join(parts, `-?\d+`) + `\z`).MatchString(got)
}

// itPid is the pid in a response line, or in its JSON.
func itPid(t testing.TB, r itResult) int {
	t.Helper()
	pids := itInts(itPidRE, r.stdout)
	if pids == nil {
		t.Fatalf("no pid in\n%s", r)
	}
	return pids[0]
}

var itMonitorRE = regexp.MustCompile(`procdog\[(\d+)\]`)

// monitorPids are the pids of every monitor that ever wrote to a log in the state directory;
// monitorPid is the one that wrote to NAME's log last.
func (e *itEnv) monitorPids() []int {
	logs, _ := filepath.Glob(filepath.Join(e.state, "procdog.*.log"))
	var pids []int
	for _, path := range logs {
		text, _ := os.ReadFile(path)
		pids = append(pids, itInts(itMonitorRE, string(text))...)
	}
	slices.Sort(pids)
	return slices.Compact(pids)
}

func (e *itEnv) monitorPid(name string) int {
	pids := append([]int{0}, itInts(itMonitorRE, itLog(e, name))...)
	return pids[len(pids)-1]
}

// cleanup stops every name this test used or that has files in its state directory, then kills by
// pid whatever is left of this test's: the processes seen in responses (and their groups) and the
// monitors seen in the logs. A name with a log alone has nothing left to stop; one with no file
// here may have them in a PROCDOG_DIR of the test's own.
func (e *itEnv) cleanup() {
	kinds := map[string][]string{}
	files, _ := filepath.Glob(filepath.Join(e.state, "procdog.*"))
	for _, f := range files {
		if parts := strings.SplitN(filepath.Base(f), ".", 3); len(parts) == 3 {
			kinds[parts[1]] = append(kinds[parts[1]], parts[2])
		}
	}
	e.mu.Lock()
	for name := range e.names {
		if _, ok := kinds[name]; !ok {
			kinds[name] = nil
		}
	}
	e.mu.Unlock()
	var names []string
	for name, k := range kinds {
		if validName(name) && !slices.Equal(k, []string{"log"}) {
			names = append(names, name)
		}
	}
	itAtOnce(len(names), func(i int) {
		ctx, cancel := context.WithTimeout(context.Background(), itCommandTimeout)
		defer cancel()
		e.command(ctx, "stop", names[i], "--stop-timeout", "1").Run()
	})
	// The monitors, and what they run: their process and its group, and a health command, in a
	// group of its own, that a request from a client that has gone may have started after a stop.
	monitors := e.monitorPids()
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, dir := range procs {
		if pid, _ := strconv.Atoi(filepath.Base(dir)); slices.Contains(monitors, itStat(pid, 4)) {
			e.track(pid)
		}
	}
	for _, pid := range monitors {
		e.track(pid)
	}
	logs, _ := filepath.Glob(filepath.Join(e.state, "procdog.*.log"))
	for _, path := range logs {
		if log, _ := os.ReadFile(path); bytes.Contains(log, []byte("WARNING: DATA RACE")) {
			e.t.Errorf("a monitor reported a data race in %s:\n%s", path, log)
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for pid := range e.pids {
		if pid <= 1 || pid == os.Getpid() || !itAlive(pid) || !e.owns(pid) {
			continue
		}
		if pgid, err := syscall.Getpgid(pid); err == nil && pgid == pid {
			syscall.Kill(-pid, syscall.SIGKILL)
		}
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

// owns tells whether pid is still a process of this test, not another that got its pid since: a
// monitor and everything it starts inherit the client's environment, with this test's PROCDOG_DIR,
// and a monitor's command line names the state directory. Without /proc, assume it is.
func (e *itEnv) owns(pid int) bool {
	if itNoProc() {
		return true
	}
	if cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil && bytes.Contains(cmdline, []byte(e.state)) {
		return true
	}
	environ, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	return slices.Contains(strings.Split(string(environ), "\x00"), "PROCDOG_DIR="+e.state)
}

// itAlive tells whether pid is a live process. A zombie is not: it has ended, and only waits for a
// parent (here, often a slow init) to reap it. But a thread group's leader turns zombie before its
// other threads have exited, and until the last has, the process's descriptors stay open: a killed
// monitor still holds its lock and its socket. So a zombie with threads left is alive.
func itAlive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return !errors.Is(err, fs.ErrNotExist) || itNoProc()
	}
	zombie := strings.Contains(string(status), "\nState:\tZ")
	return !zombie || procField(string(status), "Threads:") > 1
}

func itNoProc() bool {
	_, err := os.Stat("/proc/self/stat")
	return err != nil
}

// itStat is field n of /proc/PID/stat, counting the pid as field 1, as proc(5) does: 4 is the
// parent, 6 the session; 0 where there is none.
func itStat(pid, n int) int {
	stat, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	i := bytes.LastIndexByte(stat, ')')
	if fields := strings.Fields(string(stat[i+1:])); i >= 0 && n-3 < len(fields) {
		v, _ := strconv.Atoi(fields[n-3])
		return v
	}
	return 0
}

// itEventually polls cond until it holds or timeout passes; then fails, showing what cond last saw.
func itEventually(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, got := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s; last saw: %s", timeout, what, got)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (e *itEnv) path(name, kind string) string { return statePath(e.state, name, kind) }

// noConfigHint follows a missing command when there is no config file: where procdog looked.
func (e *itEnv) noConfigHint() string {
	return "procdog: no config file found: looked for procdog.cfg in " + e.work + " and its parents, and for " +
		filepath.Join(filepath.Dir(itBinary), "procdog.cfg") + " and " + filepath.Join(e.home, ".procdog.cfg")
}

func itExists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

func itMust(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func itFileIn(e *itEnv, name string) func() (bool, string) {
	return func() (bool, string) { return itExists(filepath.Join(e.work, name)), "no " + name }
}

func itGone(t testing.TB, timeout time.Duration, path string) {
	t.Helper()
	itEventually(t, timeout, path+" to be removed", func() (bool, string) {
		fi, err := os.Lstat(path)
		if err == nil {
			return false, "it exists: " + fi.Mode().String()
		}
		return errors.Is(err, fs.ErrNotExist), err.Error()
	})
}

func itDead(t testing.TB, timeout time.Duration, what string, pid int) {
	t.Helper()
	itEventually(t, timeout, fmt.Sprintf("%s (pid %d) to end", what, pid), func() (bool, string) {
		return !itAlive(pid), "it is alive"
	})
}

// itPidFile waits until the file at path holds a pid, and tracks it.
func itPidFile(e *itEnv, path string) int {
	e.t.Helper()
	var pid int
	itEventually(e.t, itSoon, "a pid in "+path, func() (bool, string) {
		text, err := os.ReadFile(path)
		pid, _ = strconv.Atoi(strings.TrimSpace(string(text)))
		return pid > 0, fmt.Sprintf("%q %v", text, err)
	})
	e.track(pid)
	return pid
}

// itFileLines waits until the file at path has the lines want, where "HEADER" stands for procdog's
// header line, and fails showing what it has otherwise.
func itFileLines(t *testing.T, path string, want ...string) {
	t.Helper()
	itEventually(t, itSoon, fmt.Sprintf("%s to hold the lines %q", path, want), func() (bool, string) {
		text, _ := os.ReadFile(path)
		got := strings.Split(strings.TrimSuffix(string(text), "\n"), "\n")
		if len(got) != len(want) || !strings.HasSuffix(string(text), "\n") {
			return false, fmt.Sprintf("%q", text)
		}
		for i := range want {
			if got[i] != want[i] && !(want[i] == "HEADER" && itHeaderRE.MatchString(got[i])) {
				return false, fmt.Sprintf("%q", text)
			}
		}
		return true, ""
	})
}

// itHeaderRE is the line procdog writes first to a --stdout/--stderr file.
var itHeaderRE = regexp.MustCompile(`^procdog: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z Starting process '[A-Za-z0-9_-]+' with options: .*$`)

func itWrite(t testing.TB, path, text string) {
	t.Helper()
	itMust(t, os.WriteFile(path, []byte(text), 0o644))
}

// itGoSetup finds the go command and its version, and prepares e to run it offline: HOME is the
// test's, so go is told where its real cache and settings are, and it may not switch toolchains or
// download.
func itGoSetup(t *testing.T, e *itEnv) (goBin, version string) {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go is not on PATH")
	}
	names := []string{"GOCACHE", "GOPATH", "GOMODCACHE", "GOENV", "GOVERSION"}
	out, err := exec.Command(goBin, append([]string{"env"}, names...)...).Output()
	if err != nil {
		t.Fatalf("go env: %v", err)
	}
	values := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(values) != len(names) {
		t.Fatalf("go env %v printed %q", names, out)
	}
	for i, v := range values[:4] {
		if v != "" {
			e.setenv(names[i], v)
		}
	}
	e.setenv("GOTOOLCHAIN", "local")
	e.setenv("GOPROXY", "off")
	return goBin, values[4]
}

// itGoDir is a directory holding files (path: text), the same one for every run of the tests with
// the same files: go caches a build of a main package by its directory too, and a build of procdog
// takes a second or two of CPU. It is made whole elsewhere, then renamed into place; others go once
// unused for a day.
func itGoDir(t *testing.T, files map[string]string) string {
	t.Helper()
	sum := sha256.New()
	for _, name := range slices.Sorted(maps.Keys(files)) {
		fmt.Fprintf(sum, "%q %q\n", name, files[name])
	}
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("procdog-test-go-%x", sum.Sum(nil)[:8]))
	if !itExists(dir) {
		tmp, err := os.MkdirTemp(os.TempDir(), "procdog-test-go-new-")
		itMust(t, err)
		for name, text := range files {
			itMust(t, os.MkdirAll(filepath.Dir(filepath.Join(tmp, name)), 0o755))
			itWrite(t, filepath.Join(tmp, name), text)
		}
		if os.Rename(tmp, dir) != nil {
			os.RemoveAll(tmp) // another run of the tests made it meanwhile
		}
	}
	now := time.Now()
	os.Chtimes(dir, now, now)
	old, _ := filepath.Glob(filepath.Join(os.TempDir(), "procdog-test-go-*"))
	for _, d := range old {
		if fi, err := os.Stat(d); err == nil && now.Sub(fi.ModTime()) > 24*time.Hour {
			os.RemoveAll(d)
		}
	}
	return dir
}

// goExpect runs the go command with args in dir, in e's world, and checks what it did as expect
// does. NAME in args (after "run FILE" or "tool procdog") is remembered for the cleanup.
func (e *itEnv) goExpect(goBin, dir, stdout, stderr string, code int, args ...string) itResult {
	e.t.Helper()
	if len(args) >= 4 && (args[0] == "run" || args[0] == "tool") {
		e.name(args[3])
	}
	// A first build of procdog can take a while on a loaded machine.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Dir, cmd.Env, cmd.WaitDelay = dir, e.environ(), time.Second
	return e.check(e.finish(ctx, cmd, append([]string{"(go)"}, args...)), stdout, stderr, code)
}

// stateFiles lists the state directory but logs: what a failed or finished start must not leave.
func (e *itEnv) stateFiles() []string {
	entries, _ := os.ReadDir(e.state)
	var names []string
	for _, d := range entries {
		if !strings.HasSuffix(d.Name(), ".log") {
			names = append(names, d.Name())
		}
	}
	return names
}

func fileConn(t *testing.T, fd int) net.Conn {
	f := os.NewFile(uintptr(fd), "socketpair")
	defer f.Close()
	c, err := net.FileConn(f)
	itMust(t, err)
	return c
}

// itWant is one acceptable result of a command whose answer depends on a race the test cannot
// steer, such as a signal and the reaping of the process it ends.
type itWant struct {
	stdout string
	code   int
}

// itExpectOneOf fails unless procdog printed one of want, with its exit code, and nothing on
// stderr.
func itExpectOneOf(e *itEnv, want []itWant, args ...string) itResult {
	e.t.Helper()
	r := e.run(args...)
	for _, w := range want {
		if itMatch(w.stdout, r.stdout) && r.stderr == "" && r.code == w.code {
			return r
		}
	}
	e.t.Fatalf("unexpected result of\n%s\nwant one of %+v", r, want)
	return r
}

// itEventuallyAnswers runs procdog until it prints want, nothing on stderr, and exits with code.
func itEventuallyAnswers(e *itEnv, timeout time.Duration, want string, code int, args ...string) itResult {
	e.t.Helper()
	var r itResult
	itEventually(e.t, timeout, fmt.Sprintf("procdog %q to answer %q, exit %d", args, want, code), func() (bool, string) {
		r = e.run(args...)
		return itMatch(want, r.stdout) && r.stderr == "" && r.code == code, r.String()
	})
	return r
}

func itLog(e *itEnv, name string) string {
	text, _ := os.ReadFile(e.path(name, "log"))
	return string(text)
}

// itLogHas waits until NAME's monitor log holds text n times.
func itLogHas(e *itEnv, name, text string, n int) {
	e.t.Helper()
	itEventually(e.t, itSoon, fmt.Sprintf("%d × %q in the monitor log", n, text), func() (bool, string) {
		log := itLog(e, name)
		return strings.Count(log, text) == n, fmt.Sprintf("%q", log)
	})
}

// itStarted are the pids the monitors of NAME started, from their log.
func itStarted(e *itEnv, name string) []int {
	return itInts(regexp.MustCompile(`\] `+regexp.QuoteMeta(name)+`: started pid (\d+): `), itLog(e, name))
}

func itAtOnce(n int, f func(i int)) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() { defer wg.Done(); f(i) }()
	}
	wg.Wait()
}

func itSeq(from, to int) string {
	var lines []string
	for i := from; i <= to; i++ {
		lines = append(lines, strconv.Itoa(i))
	}
	return strings.Join(lines, "\n")
}

// itStamp matches the timestamp and pid that start a monitor log line.
const itStamp = "{N}-{N}-{N}T{N}:{N}:{N}.{N}Z procdog[{N}]"

func itClosedAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	itMust(t, err)
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// itTCPListener is a local TCP address that accepts connections, until the test ends.
func itTCPListener(t *testing.T) string {
	t.Helper()
	addr, err := itListen(t, "127.0.0.1:0", "")
	itMust(t, err)
	return addr
}

// itListen listens on addr until the test ends and says where, answering each connection with answer.
func itListen(t *testing.T, addr, answer string) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for c, err := ln.Accept(); err == nil; c, err = ln.Accept() {
			go func() { io.WriteString(c, answer); c.Close() }()
		}
	}()
	return ln.Addr().String(), nil
}

// itHTTPServer is a local HTTP server for the health probes: /ok answers 200, /redirect 302 (to
// /fail), /fail 500, and /slow does not answer until the client goes away.
func itHTTPServer(t *testing.T) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/fail", http.StatusFound) })
	mux.HandleFunc("/fail", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "failing", http.StatusInternalServerError) })
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(itSoon):
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// benchSamples is how many times each command is timed in one round; the median counts. benchCrowd
// is how many starts run at once. Both are small in TestBenchmarkVsFloorRuns.
var benchSamples, benchCrowd = 15, 100

// itFloor builds the floor program beside procdog, once, as procdog is built: a plain go build,
// with package net and cgo as the machine gives it.
var itFloor = sync.OnceValues(func() (string, error) {
	path := filepath.Join(filepath.Dir(itBinary), "floor")
	build := exec.Command("go", "build", "-o", path, "./testdata/floor")
	if out, err := build.CombinedOutput(); err != nil {
		return path, fmt.Errorf("building the floor: %v\n%s", err, out)
	}
	return path, nil
})

// timeCommand runs name args to the end and says how long it took.
func timeCommand(tb testing.TB, env []string, name string, args ...string) time.Duration {
	tb.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = env
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil && !strings.Contains(string(out), "running") {
		tb.Fatalf("%s %q: %v\n%s", name, args, err, out)
	}
	return time.Since(start)
}

func median(ds []time.Duration) time.Duration {
	slices.Sort(ds)
	return ds[len(ds)/2]
}

// failingWriter fails every write, as a file on a full disk does.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, syscall.ENOSPC }

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// procKiB is the field name (such as "Pss:" or "VmRSS:") of the /proc file of pid, in KiB:
// smaps_rollup has the proportional set size, its own memory plus its share of shared memory.
func procKiB(pid int, file, name string) (int, bool) {
	text, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", pid, file))
	return procField(string(text), name), err == nil
}

func procField(text, name string) int {
	for _, line := range strings.Split(text, "\n") {
		if rest, ok := strings.CutPrefix(line, name); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			return n
		}
	}
	return 0
}

// floorStarts runs n floor starts of sleep at once and says how long they took; then it ends each
// sleep, by the pid that its start printed, and waits for it and its floor monitor to end.
func floorStarts(b *testing.B, e *itEnv, floor string, n int) time.Duration {
	pids := make([]int, n)
	begin := time.Now()
	itAtOnce(n, func(i int) {
		cmd := exec.Command(floor, "-start", "sleep", "1000")
		cmd.Env = e.environ()
		out, err := cmd.Output()
		if pid, ok := strings.CutPrefix(strings.TrimSpace(string(out)), "running, pid="); ok {
			pids[i], _ = strconv.Atoi(pid)
		}
		if err != nil || pids[i] == 0 {
			b.Errorf("floor -start: %q, %v", out, err)
		}
	})
	took := time.Since(begin)
	var ended []int
	for _, pid := range pids {
		if pid > 0 {
			// Should this kill fail, the cleanup ends it: the sleep has this test's PROCDOG_DIR.
			e.track(pid)
			ended = append(ended, pid, itStat(pid, 4))
			syscall.Kill(-pid, syscall.SIGTERM)
		}
	}
	awaitEnd(ended...)
	return took
}

// awaitEnd waits, for at most a few seconds, until the processes pids have ended, so that their
// ending does not weigh on the next command timed.
func awaitEnd(pids ...int) {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if !slices.ContainsFunc(pids, func(pid int) bool { return pid > 1 && itAlive(pid) }) {
			return
		}
	}
}

// itListenAs makes a listening Unix socket at path, bound as this test's user but listening as uid,
// which is the uid a client sees as its peer, and answers every request with answer. Only the one
// thread that listens changes its uid, and it ends with its goroutine. Linux, as root.
func itListenAs(t *testing.T, uid int, path, answer string) {
	t.Helper()
	if os.Getuid() != 0 || runtime.GOOS != "linux" {
		t.Skip("needs root on Linux to listen as another user")
	}
	fds := make(chan int, 1)
	errs := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with this goroutine
		fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
		if err == nil {
			err = syscall.Bind(fd, &syscall.SockaddrUnix{Name: path})
		}
		if err == nil {
			// setreuid(-1, uid) by the raw system call changes this thread alone.
			if _, _, errno := syscall.RawSyscall(syscall.SYS_SETREUID, ^uintptr(0), uintptr(uid), 0); errno != 0 {
				err = errno
			}
		}
		if err == nil {
			err = syscall.Listen(fd, 8)
		}
		if err != nil {
			errs <- err
			return
		}
		fds <- fd
	}()
	var fd int
	select {
	case err := <-errs:
		t.Fatalf("listening as uid %d: %v", uid, err)
	case fd = <-fds:
	}
	ln, err := net.FileListener(os.NewFile(uintptr(fd), path))
	itMust(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			bufio.NewReader(c).ReadString('\n')
			io.WriteString(c, answer+"\n")
			c.Close()
		}
	}()
}

// exportUnquoteSystemd reads an Exec line's value as systemd does, as far as systemdQuote writes
// it: %% is % in the whole line (else a specifier), words are split at blanks, double quotes hold
// blanks, C escapes are read, and in each word $$ is $ (else a variable).
func exportUnquoteSystemd(line string) ([]string, error) {
	if strings.ContainsAny(line, "\n\r") {
		return nil, errors.New("raw line break")
	}
	if strings.Contains(strings.ReplaceAll(line, "%%", ""), "%") {
		return nil, fmt.Errorf("specifier in %q", line)
	}
	var words []string
	s := strings.ReplaceAll(line, "%%", "%")
	for s = strings.TrimLeft(s, " \t"); s != ""; s = strings.TrimLeft(s, " \t") {
		w, rest, err := exportSystemdWord(s)
		if err != nil {
			return nil, err
		}
		if strings.Contains(strings.ReplaceAll(w, "$$", ""), "$") {
			return nil, fmt.Errorf("variable in word %q", w)
		}
		words, s = append(words, strings.ReplaceAll(w, "$$", "$")), rest
	}
	return words, nil
}

// exportSystemdWord reads the word that s starts with, which double quotes may hold, and its C
// escapes; it returns the word and the rest of s.
func exportSystemdWord(s string) (string, string, error) {
	var w strings.Builder
	quoted := s[0] == '"'
	if quoted {
		s = s[1:]
	}
	unescape := map[byte]byte{'n': '\n', 't': '\t', '"': '"', '\\': '\\'}
	for ; s != "" && (quoted || s[0] != ' ' && s[0] != '\t'); s = s[1:] {
		c := s[0]
		switch {
		case quoted && c == '"':
			quoted = false
			if len(s) > 1 && s[1] != ' ' {
				return "", "", fmt.Errorf("text after a closing quote in %q", s)
			}
			continue
		case c == ';' && !quoted:
			return "", "", errors.New("unquoted ;")
		case c == '\\' && len(s) > 1 && unescape[s[1]] != 0:
			c, s = unescape[s[1]], s[1:]
		case c == '\\' && len(s) >= 4 && s[1] == 'x':
			n, err := strconv.ParseUint(s[2:4], 16, 8)
			if err != nil || n == 0 {
				return "", "", fmt.Errorf("bad escape %q", s[:4])
			}
			c, s = byte(n), s[3:]
		case c == '\\':
			return "", "", fmt.Errorf("bad escape in %q", s)
		}
		w.WriteByte(c)
	}
	if quoted {
		return "", "", errors.New("unbalanced quote")
	}
	return w.String(), s, nil
}

// exportReadmeConfig is the original procdog's documented config file example, its Java backend.
const exportReadmeConfig = `# Procdog config file. Each section is a process name.
[backend]
command=java -classpath my-backend.jar com.example.BackendServer server config.yml
health_command=curl http://localhost:8080/ping
health_count=10
health_delay=2.
dir=$HOME/backend
stdout=backend.log
stderr=backend.log
append=False
ensure_healthy=True
strict=True
`

// exportRun runs export in this process, as runCommand would.
func exportRun(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cl, err := parseCommandLine(append([]string{"export"}, args...))
	itMust(t, err)
	var out, errOut bytes.Buffer
	err = runExport(cl, cl.words[1:], &out, &errOut)
	return out.String(), errOut.String(), err
}

// exportVerify writes unit to path and runs systemd-analyze verify on it as a user unit, where
// systemd-analyze exists. It fails on any complaint that names the unit; other units are not this
// test's business.
func exportVerify(t *testing.T, path, unit string) {
	t.Helper()
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("no systemd-analyze: the unit is not verified")
		return
	}
	itWrite(t, path, unit)
	// A user manager needs a runtime directory, which a CI job may lack.
	runtimeDir := t.TempDir()
	os.Chmod(runtimeDir, 0o700)
	cmd := exec.Command(sa, "--user", "verify", path)
	cmd.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+runtimeDir, "SYSTEMD_LOG_COLOR=0")
	out, err := cmd.CombinedOutput()
	if strings.Contains(string(out), "Failed to initialize manager") {
		t.Logf("systemd-analyze cannot run here: %s", out)
		return
	}
	if err != nil || strings.Contains(string(out), filepath.Base(path)) {
		t.Errorf("systemd-analyze verify %s: %v\n%s\n%s", path, err, out, unit)
	}
}

// exportCheckPlist reads a plist's top dict as key → "element:inner XML" and checks its
// ProgramArguments; where plutil exists, it must find the plist well formed.
func exportCheckPlist(t *testing.T, plist string, argv []string) map[string]string {
	t.Helper()
	var p struct {
		Dict struct {
			Elements []struct {
				XMLName xml.Name
				Inner   string   `xml:",innerxml"`
				Strings []string `xml:"string"`
			} `xml:",any"`
		} `xml:"dict"`
	}
	if err := xml.Unmarshal([]byte(plist), &p); err != nil || len(p.Dict.Elements)%2 != 0 {
		t.Fatalf("the plist is not XML, or its dict not keys and values: %v\n%s", err, plist)
	}
	values, args := map[string]string{}, []string(nil)
	for i, e := 0, p.Dict.Elements; i < len(e); i += 2 {
		if e[i].XMLName.Local != "key" {
			t.Fatalf("<%s> where a key should be\n%s", e[i].XMLName.Local, plist)
		}
		values[e[i].Inner] = e[i+1].XMLName.Local + ":" + e[i+1].Inner
		if e[i].Inner == "ProgramArguments" {
			args = e[i+1].Strings
		}
	}
	if !slices.Equal(args, argv) {
		t.Errorf("ProgramArguments = %q, want %q\n%s", args, argv, plist)
	}
	if plutil, err := exec.LookPath("plutil"); err == nil {
		path := filepath.Join(t.TempDir(), "procdog.x.plist")
		itWrite(t, path, plist)
		if out, err := exec.Command(plutil, "-lint", path).CombinedOutput(); err != nil {
			t.Errorf("plutil -lint: %v\n%s\n%s", err, out, plist)
		}
	}
	return values
}

// exportExecLine is the value of key= in unit, read as systemd reads it.
func exportExecLine(t *testing.T, unit, key string) []string {
	t.Helper()
	for _, line := range strings.Split(unit, "\n") {
		if v, ok := strings.CutPrefix(line, key+"="); ok {
			argv, err := exportUnquoteSystemd(v)
			if err != nil {
				t.Fatalf("%s: %v\n%s", line, err, unit)
			}
			return argv
		}
	}
	t.Fatalf("no %s= in\n%s", key, unit)
	return nil
}

// exportHealthScript is the exit code of a unit's ExecStartPost= health loop, run in dir as systemd would.
func exportHealthScript(t *testing.T, unit, dir string) int {
	t.Helper()
	argv := exportExecLine(t, unit, "ExecStartPost")
	ctx, cancel := context.WithTimeout(context.Background(), itCommandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	if err := cmd.Run(); cmd.ProcessState == nil || ctx.Err() != nil {
		t.Fatalf("%q: %v", argv, err)
	}
	return cmd.ProcessState.ExitCode()
}

// exportLookPath is the absolute path the exported unit should name.
func exportLookPath(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("no %s: %v", name, err)
	}
	abs, _ := filepath.Abs(path)
	return abs
}

// runLines runs the client in-process and returns its stderr as lines.
func runLines(t *testing.T, args ...string) (stdout string, stderr []string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut)
	return out.String(), strings.Split(strings.TrimSuffix(errOut.String(), "\n"), "\n"), code
}

// expectRun runs the client in-process and fails unless it exits with code and prints exactly
// stdout, and the lines stderr on stderr.
func expectRun(t *testing.T, args []string, code int, stdout string, stderr ...string) {
	t.Helper()
	var out, errOut bytes.Buffer
	got := run(args, &out, &errOut)
	if want := itLines(strings.Join(stderr, "\n")); got != code || out.String() != stdout || errOut.String() != want {
		t.Errorf("run(%q) = %d, stdout %q, stderr\n%q\nwant %d, %q,\n%q", args, got, out.String(), errOut.String(),
			code, stdout, want)
	}
}

// itFollow starts procdog with args, writing to the file path, and ends it when the test ends.
func itFollow(t *testing.T, e *itEnv, path string, args ...string) *exec.Cmd {
	f, err := os.Create(path)
	itMust(t, err)
	cmd := e.command(context.Background(), args...)
	cmd.Stdout, cmd.Stderr = f, f
	itMust(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait(); f.Close() })
	return cmd
}

// itInterruptWhen starts procdog with args, sends SIGINT once ready holds, and returns what it did
// and how long it took to end.
func itInterruptWhen(t *testing.T, e *itEnv, ready func() (bool, string), args ...string) (itResult, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), itCommandTimeout)
	defer cancel()
	cmd := e.command(ctx, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	itMust(t, cmd.Start())
	itEventually(t, itSoon, "the moment to interrupt", ready)
	sent := time.Now()
	cmd.Process.Signal(os.Interrupt)
	err := cmd.Wait()
	took := time.Since(sent)
	r := itResult{args: args, stdout: stdout.String(), stderr: stderr.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	}
	e.notePids(r.stdout)
	return r, took
}

// zeroReader reads its byte for ever.
type zeroReader struct{ b byte }

func (z zeroReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = z.b
	}
	return len(p), nil
}

// ---------------------------------------------------------------------------
// Unit tests and fuzz targets: the parsers and rules, without a process.

// The config file.

func TestParseINI(t *testing.T) {
	type ini = map[string]map[string]string
	tests := []struct {
		name, text string
		want       ini
	}{
		{"an empty file has no sections", "", ini{}},
		{"a section without keys is still a section", "[web]\n", ini{"web": {}}},
		{"keys are read with = and with :", "[web]\ncommand=sleep 1\nhealth_count: 3\n",
			ini{"web": {"command": "sleep 1", "health_count": "3"}}},
		{"the first = or : separates the key from the value", "[web]\na : b = c\nd = e:f\n",
			ini{"web": {"a": "b = c", "d": "e:f"}}},
		{"keys are lower-cased and trimmed, values trimmed", "[web]\n  Health_Command   =   curl http://x/  \t\n",
			ini{"web": {"health_command": "curl http://x/"}}},
		{"section names keep their case", "[Web]\na=1\n[web]\na=2\n", ini{"Web": {"a": "1"}, "web": {"a": "2"}}},
		{"several sections and DEFAULT are kept apart", "[DEFAULT]\nlinger=4\n[web]\ncommand=a\n[db]\ncommand=b\n",
			ini{"DEFAULT": {"linger": "4"}, "web": {"command": "a"}, "db": {"command": "b"}}},
		{"whole-line comments start with # or ;, indented or not",
			"# top\n; top\n[web]\n# comment = no\n  ; comment: no\na=1\n", ini{"web": {"a": "1"}}},
		{"a # inside a value is kept", "[web]\ncommand = echo a#b # c\n", ini{"web": {"command": "echo a#b # c"}}},
		{"indented lines continue the previous value, joined with newlines",
			"[web]\ncommand = sleep 1\n  --flag\n\tmore  \nnext = 2\n",
			ini{"web": {"command": "sleep 1\n--flag\nmore", "next": "2"}}},
		{"an empty value can be continued", "[web]\na=\n  b\n", ini{"web": {"a": "\nb"}}},
		{"a comment inside a continued value is skipped", "[web]\na=1\n# c\n  more\n", ini{"web": {"a": "1\nmore"}}},
		{"blank lines are ignored between keys", "\n\n[web]\n\na=1\n   \n\nb=2\n\n", ini{"web": {"a": "1", "b": "2"}}},
		{"CRLF line ends are read like LF", "[web]\r\nA = 1\r\ncommand = x\r\n  y\r\n",
			ini{"web": {"a": "1", "command": "x\ny"}}},
		{"a later value for a key wins", "[web]\na=1\na=2\n", ini{"web": {"a": "2"}}},
		{"a section name may contain ]", "[a]b]\nk=v\n", ini{"a]b": {"k": "v"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := parseINI(tt.text); err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parseINI(%q) = %q, %v; want %q", tt.text, got, err, tt.want)
			}
		})
	}
	for _, tt := range []struct{ name, text, line string }{
		{"a key before any section", "command = x\n[web]\n", "line 1"},
		{"a line without = or :", "[web]\na=1\njunk\n", "line 3"},
		{"a line that starts with a delimiter", "[web]\n= x\n", "line 2"},
		{"an empty section header", "[]\n", "line 1"},
		{"an unclosed section header", "\n[web\n", "line 2"},
	} {
		t.Run(tt.name+" is an error that names the line", func(t *testing.T) {
			if got, err := parseINI(tt.text); err == nil || !strings.Contains(err.Error(), tt.line) {
				t.Errorf("parseINI(%q) = %q, %v; want an error naming %q", tt.text, got, err, tt.line)
			}
		})
	}
}

func TestReadConfig(t *testing.T) {
	path := writeConfig(t, "[DEFAULT]\nlinger=4\nstrict=yes\n[web]\nlinger=5\ncommand=x\n[db]\ncommand=y\n")
	tests := []struct {
		name, proc string
		want       map[string]string
	}{
		{"[NAME] is overlaid on [DEFAULT]", "web",
			map[string]string{"linger": "5", "strict": "yes", "command": "x"}},
		{"another section's values stay there", "db",
			map[string]string{"linger": "4", "strict": "yes", "command": "y"}},
		{"a name without a section gets nothing", "other", map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, gotPath, err := readConfig(path, tt.proc)
			if err != nil || !maps.Equal(got, tt.want) || gotPath != path {
				t.Errorf("readConfig(%q, %q) = %q, %q, %v; want %q, %q, nil",
					path, tt.proc, got, gotPath, err, tt.want, path)
			}
		})
	}
}

// resolveWith resolves the options of web with a config file of text and the command-line options
// flags, as parseCommandLine records them.
func resolveWith(t *testing.T, text string, flags map[string]string) (options, string, error) {
	t.Helper()
	path := writeConfig(t, text)
	set := map[string]string{"config": path}
	maps.Copy(set, flags)
	o, err := resolveOptions(commandLine{set: set}, "web")
	return o, path, err
}

func TestResolveOptions(t *testing.T) {
	t.Setenv("PD_TEST_ROOT", "/srv")
	t.Setenv("PD_TEST_HOST", "127.0.0.1")
	tests := []struct {
		name, config string
		flags        map[string]string
		want         func(o *options) // changes to the defaults
	}{
		{"an empty config file leaves the defaults", "", nil, func(o *options) {}},
		{"the config file overrides the defaults", "[web]\ncommand = sleep 1\nhealth_count=7\nhealth_delay=2.\n" +
			"linger=.5\nensure_healthy=True\nappend=off\nstrict=YES\nshell=1\nstop_signal=INT\n", nil,
			func(o *options) {
				o.Command, o.HealthCount, o.HealthDelay, o.Linger = "sleep 1", 7, 2, 0.5
				o.EnsureHealthy, o.Strict, o.Shell, o.StopSignal, o.Dir = true, true, true, "INT", filepath.Dir(o.Config)
			}},
		{"[DEFAULT] supplies values for the named section", "[DEFAULT]\nlinger=4\n[web]\ncommand=x\n", nil,
			func(o *options) { o.Command, o.Linger, o.Dir = "x", 4, filepath.Dir(o.Config) }},
		{"the named section overrides [DEFAULT]", "[DEFAULT]\nlinger=4\n[web]\nlinger=5\n", nil,
			func(o *options) { o.Linger = 5 }},
		{"a missing section for the name is fine, and other sections are ignored",
			"[db]\ncommand=postgres\nbogus=1\n", nil, func(o *options) {}},
		{"[DEFAULT] fills in only sections that exist, as ConfigParser.items did",
			"[DEFAULT]\nlinger=4\n[db]\ncommand=postgres\n", nil, func(o *options) {}},
		{"the command line overrides the config file",
			"[web]\ncommand=from-file\nlinger=4\nstrict=false\nhealth_count=2\n",
			map[string]string{"command": "from-flags", "linger": "9", "strict": "true"},
			func(o *options) { o.Command, o.Linger, o.Strict, o.HealthCount = "from-flags", 9, true, 2 }},
		{"the command line turns off what the config file turns on", "[web]\nstrict=yes\n",
			map[string]string{"strict": "false"}, func(o *options) {}},
		{"a health check on the command line replaces the config file's other kind",
			"[web]\nhealth_command=false\n", map[string]string{"health-url": "http://127.0.0.1/ok"},
			func(o *options) { o.HealthURL = "http://127.0.0.1/ok" }},
		{"the restart policy comes from the config file",
			"[web]\nrestart=on-failure\nmax_restarts=1\nrestart_delay=0.05\n", nil,
			func(o *options) { o.Restart, o.MaxRestarts, o.RestartDelay = "on-failure", 1, 0.05 }},
		{"the command line overrides the defaults", "",
			map[string]string{"health-delay": "0.25", "stdout": "out.log", "stderr": "out.log", "append": "true"},
			func(o *options) { o.HealthDelay, o.Stdout, o.Stderr, o.Append = 0.25, "out.log", "out.log", true }},
		{"variables are expanded in the command, health command, dir and files, from the config file too",
			"[web]\ncommand=run $PD_TEST_ROOT/app\nhealth_command=check ${PD_TEST_ROOT}x $$HOME\n" +
				"dir=$PD_TEST_ROOT/web\nstdin=$PD_TEST_ROOT/in\nstdout=$PD_TEST_ROOT/out\nstderr=${PD_TEST_ROOT}/err\n",
			nil, func(o *options) {
				o.Command, o.HealthCommand, o.Dir = "run /srv/app", "check /srvx $HOME", "/srv/web"
				o.Stdin, o.Stdout, o.Stderr = "/srv/in", "/srv/out", "/srv/err"
			}},
		{"variables are expanded in health_url from the config file",
			"[web]\nhealth_url=http://${PD_TEST_HOST}:80/ok\n", nil,
			func(o *options) { o.HealthURL = "http://127.0.0.1:80/ok" }},
		{"variables are expanded in health_tcp from the config file", "[web]\nhealth_tcp=$PD_TEST_HOST:80\n",
			nil, func(o *options) { o.HealthTCP = "127.0.0.1:80" }},
		{"variables are expanded in command-line values", "",
			map[string]string{"command": "echo $PD_TEST_ROOT $$", "health-command": "test ${PD_TEST_ROOT}x"},
			func(o *options) { o.Command, o.HealthCommand = "echo /srv $", "test /srvx" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, path, err := resolveWith(t, tt.config, tt.flags)
			want := defaultOptions()
			want.Config = path
			tt.want(&want)
			if err != nil || got != want {
				t.Errorf("resolveOptions with config %q and flags %q\n got %+v, %v\nwant %+v",
					tt.config, tt.flags, got, err, want)
			}
		})
	}
}

func TestResolveOptionsReadsTheHomeConfigFile(t *testing.T) {
	exe, _ := os.Executable()
	for _, other := range []string{"procdog.cfg", filepath.Join(filepath.Dir(exe), "procdog.cfg")} {
		if _, err := os.Stat(other); err == nil {
			t.Skipf("%s exists and comes before ~/.procdog.cfg", other)
		}
	}
	home := t.TempDir()
	t.Setenv("HOME", home)
	itMust(t, os.WriteFile(filepath.Join(home, ".procdog.cfg"), []byte("[web]\nlinger=7\n"), 0o600))
	if got, err := resolveOptions(commandLine{set: map[string]string{}}, "web"); err != nil || got.Linger != 7 {
		t.Errorf("without --config: linger %v, %v; want 7 from ~/.procdog.cfg", got.Linger, err)
	}
}

func TestResolveOptionsRejectsBadValues(t *testing.T) {
	unsetenv(t, "BADENVVAR")
	expansion := "could not expand environment variable names in "
	tests := []struct {
		name, config string
		flags        map[string]string
		code         int
		msg          string   // the exact message, with {path} for the config file; or
		words        []string // words the message must contain
	}{
		{"an unknown key is exit 3", "[web]\nbogus = 1\n", nil, exitUnknown,
			"unrecognized config key: 'bogus' in '{path}'", nil},
		{"an unknown key in [DEFAULT] is exit 3", "[DEFAULT]\nBogus = 1\n[web]\n", nil, exitUnknown,
			"unrecognized config key: 'bogus' in '{path}'", nil},
		{"config is not a config-file key", "[web]\nconfig = other.cfg\n", nil, exitUnknown,
			"unrecognized config key: 'config' in '{path}'", nil},
		{"a key spelled with dashes is unknown", "[web]\nhealth-count = 3\n", nil, exitUnknown,
			"unrecognized config key: 'health-count' in '{path}'", nil},
		{"a bad boolean is exit 3", "[web]\nstrict = not-valid\n", nil, exitUnknown, "Not a boolean: not-valid", nil},
		{"a bad int is exit 3 and names the key and value", "[web]\nhealth_count = many\n", nil, exitUnknown,
			"", []string{"health_count", "many"}},
		{"a bad float is exit 3 and names the key and value", "[web]\nlinger = soon\n", nil, exitUnknown,
			"", []string{"linger", "soon"}},
		{"a negative float is exit 3 and names the key and value", "[web]\nsettle = -1\n", nil, exitUnknown,
			"", []string{"settle", "-1"}},
		{"a bad stop signal in the config file is exit 3", "[web]\nstop_signal = FOO\n", nil, exitUnknown,
			"", []string{"FOO"}},
		{"an undefined variable is exit 3", "", map[string]string{"command": "echo hello $BADENVVAR"}, exitUnknown,
			expansion + "command 'echo hello $BADENVVAR': 'BADENVVAR'", nil},
		{"an undefined variable in the config file is exit 3", "[web]\ncommand = echo hello $BADENVVAR\n", nil,
			exitUnknown, expansion + "command 'echo hello $BADENVVAR': 'BADENVVAR'", nil},
		{"an undefined variable in health_url is exit 3", "[web]\nhealth_url=http://$BADENVVAR/\n", nil,
			exitUnknown, expansion + "health_url 'http://$BADENVVAR/': 'BADENVVAR'", nil},
		{"two kinds of health check in the config file is exit 3",
			"[web]\nhealth_command=true\nhealth_tcp=127.0.0.1:1\n", nil, exitUnknown, "more than one kind of " +
				"health check in '{path}': use one of health_command, health_url, health_tcp, health_log, health_notify", nil},
		{"a bad restart policy in the config file is exit 3", "[web]\nrestart=maybe\n", nil, exitUnknown,
			"invalid choice: 'maybe' (choose from 'no', 'on-failure', 'always') " +
				"for config key 'restart' in '{path}'", nil},
		{"an invalid placeholder is exit 3", "[web]\ndir = /srv/$\n", nil, exitUnknown,
			"", []string{"'/srv/$'", "Invalid placeholder in string: line 1, col 6"}},
		{"a malformed config file is exit 3 and names the file", "junk\n", nil, exitUnknown,
			"", []string{"{path}", "line 1"}},
		{"a bad stop signal on the command line is a usage error", "", map[string]string{"stop-signal": "FOO"},
			exitError, "", []string{"FOO"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, path, err := resolveWith(t, tt.config, tt.flags)
			if err == nil {
				t.Fatalf("resolveOptions = %+v, want an error with exit code %d", o, tt.code)
			}
			ce := codedErrorOf(t, err)
			if ce.code != tt.code || ce.usage != (tt.code == exitError) {
				t.Errorf("exit code %d, usage %v; want %d, %v (error %q)",
					ce.code, ce.usage, tt.code, tt.code == exitError, ce.msg)
			}
			if want := strings.ReplaceAll(tt.msg, "{path}", path); tt.msg != "" && ce.msg != want {
				t.Errorf("error\n got %q\nwant %q", ce.msg, want)
			}
			for _, w := range tt.words {
				if w = strings.ReplaceAll(w, "{path}", path); !strings.Contains(ce.msg, w) {
					t.Errorf("error %q does not contain %q", ce.msg, w)
				}
			}
		})
	}
	t.Run("a missing --config file is exit 3 and names it", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "missing.cfg")
		_, err := resolveOptions(commandLine{set: map[string]string{"config": path}}, "web")
		if ce := codedErrorOf(t, err); ce.code != exitUnknown || !strings.Contains(ce.msg, path) {
			t.Errorf("got exit %d with %q, want exit %d naming %s", ce.code, ce.msg, exitUnknown, path)
		}
	})
}

// Option values.

// TestFlagsCarryOnlyWhatTheMonitorUses: the monitor gets the options that shape the process, and
// they come back whole through optionsFromFlags; the client's own (how to print, the config file)
// stay behind.
func TestFlagsCarryOnlyWhatTheMonitorUses(t *testing.T) {
	o := defaultOptions()
	o.Command, o.Dir, o.Settle, o.Strict = "sleep 100", "/tmp/a b", 0, true
	o.JSON, o.Debug, o.Config, o.Lines, o.Follow = true, true, "/etc/x.cfg", 3, true
	flags := o.flags()
	want := []string{"--command=sleep 100", "--dir=/tmp/a b", "--settle=0", "--strict=true"}
	if !slices.Equal(flags, want) {
		t.Errorf("flags: got %q, want %q", flags, want)
	}
	back, err := optionsFromFlags(flags)
	if err != nil || back.Command != o.Command || back.Dir != o.Dir || back.Settle != 0 || !back.Strict ||
		back.JSON || back.Debug || back.Config != "" || back.Follow {
		t.Errorf("optionsFromFlags(%q) = %+v, %v", flags, back, err)
	}
}

func TestParseBool(t *testing.T) {
	for in, want := range map[string]bool{"1": true, "yes": true, "true": true, "on": true, "YES": true,
		"True": true, "oN": true, "0": false, "no": false, "false": false, "off": false, "NO": false,
		"False": false, "OFF": false} {
		t.Run(fmt.Sprintf("%s is %v", in, want), func(t *testing.T) {
			if got, err := parseBool(in); err != nil || got != want {
				t.Errorf("parseBool(%q) = %v, %v; want %v, nil", in, got, err, want)
			}
		})
	}
	for _, in := range []string{"", "not-valid", "2", "y", "n", "t", "enabled", "truee"} {
		t.Run(quoted(in)+" is not a boolean", func(t *testing.T) {
			if got, err := parseBool(in); err == nil || err.Error() != "Not a boolean: "+in {
				t.Errorf("parseBool(%q) = %v, %v; want error %q", in, got, err, "Not a boolean: "+in)
			}
		})
	}
}

func TestOptionSpecSetParsesNumbers(t *testing.T) {
	count, _ := findOption("health-count")
	linger, _ := findOption("linger")
	timeout, _ := findOption("health-timeout")
	type setCase struct {
		name string
		spec optionSpec
		in   string
		want options // the field that spec sets; or
		err  string  // the error
	}
	tests := []setCase{
		{"an int", count, "7", options{HealthCount: 7}, ""},
		{"an int with spaces", count, " 7 ", options{HealthCount: 7}, ""},
		{"zero", count, "0", options{HealthCount: 0}, ""},
		{"a float", linger, "1.25", options{Linger: 1.25}, ""},
		{"a whole float", linger, "3", options{Linger: 3}, ""},
		{"a float with a leading dot", linger, ".5", options{Linger: 0.5}, ""},
		{"a float with a trailing dot", linger, "2.", options{Linger: 2}, ""},
		{"a float with an exponent", linger, "1e2", options{Linger: 100}, ""},
		{"a float with spaces", linger, " 4 ", options{Linger: 4}, ""},
		{"no time for a check", timeout, "0", options{}, "invalid float value: '0' (a number of seconds, more than 0)"},
	}
	for _, in := range []string{"-1", "1.5", "abc", "", "0x10"} {
		tests = append(tests, setCase{quoted(in) + " is not an int", count, in, options{},
			"invalid int value: '" + in + "' (a whole number, 0 or more)"})
	}
	for _, in := range []string{"-1", "NaN", "nan", "inf", "+Infinity", "0x1p-2", "soon", ""} {
		tests = append(tests, setCase{quoted(in) + " is not a number of seconds", linger, in, options{},
			"invalid float value: '" + in + "' (a number of seconds, 0 or more)"})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got options
			if err := tt.spec.set(&got, tt.in); errText(err) != tt.err || tt.err == "" && got != tt.want {
				t.Errorf("set --%s %q: got %+v, %v; want %+v, error %q", tt.spec.long, tt.in, got, err, tt.want, tt.err)
			}
		})
	}
}

// Commands as the user wrote them.

func TestSplitWords(t *testing.T) {
	// Each case was checked against Python's shlex.split.
	tests := []struct {
		name, in string
		want     []string
		err      string
	}{
		{"nothing is no words", "", nil, ""},
		{"white space is no words", " \t\n\r ", nil, ""},
		{"words are split on white space", " a  b\tc\nd\re ", []string{"a", "b", "c", "d", "e"}, ""},
		{"single quotes keep spaces", "'a b' c", []string{"a b", "c"}, ""},
		{"single quotes keep backslashes", `'a\b'`, []string{`a\b`}, ""},
		{"double quotes keep spaces", `"a b" c`, []string{"a b", "c"}, ""},
		{"a backslash in double quotes escapes a double quote", `"a\"b"`, []string{`a"b`}, ""},
		{"a backslash in double quotes escapes a backslash", `"a\\b"`, []string{`a\b`}, ""},
		{"a backslash in double quotes is kept before other characters", `"a\b\'"`, []string{`a\b\'`}, ""},
		{"a backslash outside quotes escapes a space", `a\ b`, []string{"a b"}, ""},
		{"a backslash outside quotes escapes a quote", `\'`, []string{"'"}, ""},
		{"a backslash outside quotes escapes a newline", "a\\\nb", []string{"a\nb"}, ""},
		{"an empty quoted word is kept", "''", []string{""}, ""},
		{"an empty double-quoted word is kept", `a "" b`, []string{"a", "", "b"}, ""},
		{"adjacent quoted parts are one word", `'a'"b"c`, []string{"abc"}, ""},
		{"quotes inside a word join it", `a"b c"d`, []string{"ab cd"}, ""},
		{"empty quotes inside a word vanish", "a''b", []string{"ab"}, ""},
		{"nothing is expanded", `"$x" *.go ~ a|b >c`, []string{"$x", "*.go", "~", "a|b", ">c"}, ""},
		{"# is not a comment", "x#y # c", []string{"x#y", "#", "c"}, ""},
		{"a java command line", "java -classpath my-backend.jar com.example.BackendServer server config.yml",
			[]string{"java", "-classpath", "my-backend.jar", "com.example.BackendServer", "server", "config.yml"}, ""},
		{"an unclosed single quote is an error", "echo 'abc", nil, "No closing quotation"},
		{"an unclosed double quote is an error", `echo "abc`, nil, "No closing quotation"},
		{"an unclosed quote after a closed one is an error", `'a' "b`, nil, "No closing quotation"},
		{"a trailing backslash is an error", `echo a\`, nil, "No escaped character"},
		{"a trailing backslash inside double quotes is an error", `echo "a\`, nil, "No escaped character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := splitWords(tt.in); errText(err) != tt.err || tt.err == "" && !slices.Equal(got, tt.want) {
				t.Errorf("splitWords(%q) = %q, %v; want %q, error %q", tt.in, got, err, tt.want, tt.err)
			}
		})
	}
}

func TestExpandVars(t *testing.T) {
	vars := map[string]string{"HOME": "/home/u", "A": "1", "B": "2", "EMPTY": "", "_under1": "u"}
	invalid := func(line, col int) string {
		return fmt.Sprintf("Invalid placeholder in string: line %d, col %d", line, col)
	}
	// Each case was checked against Python's string.Template.substitute.
	tests := []struct{ name, in, want, err string }{
		{name: "text without $ is unchanged", in: "plain text", want: "plain text"},
		{name: "$VAR is replaced", in: "$HOME/x", want: "/home/u/x"},
		{name: "${VAR} is replaced", in: "${HOME}x", want: "/home/ux"},
		{name: "a name runs as far as it can", in: "$HOMEx", err: "'HOMEx'"},
		{name: "a name stops at a dash", in: "$A-b", want: "1-b"},
		{name: "names may have underscores and digits", in: "$_under1", want: "u"},
		{name: "adjacent braced names", in: "${A}${B}", want: "12"},
		{name: "a brace after a braced name is kept", in: "${A}}", want: "1}"},
		{name: "an empty variable is empty", in: "[$EMPTY]", want: "[]"},
		{name: "$$ is a literal $", in: "$$", want: "$"},
		{name: "$$ before a name is not expanded", in: "$$HOME", want: "$HOME"},
		{name: "$$ then a variable", in: "a$$$HOME", want: "a$/home/u"},
		{name: "an undefined variable names it", in: "echo hello $BADENVVAR", err: "'BADENVVAR'"},
		{name: "names are case-sensitive", in: "$home", err: "'home'"},
		{name: "a lone $ at the end is invalid", in: "echo $", err: invalid(1, 6)},
		{name: "a lone $ at the start is invalid", in: "$", err: invalid(1, 1)},
		{name: "a $ after a variable is invalid", in: "$A$", err: invalid(1, 3)},
		{name: "a $ before a space on line 2 is invalid", in: "a\n$ b", err: invalid(2, 1)},
		{name: "columns count from the line start", in: "x\ny\n  $%", err: invalid(3, 3)},
		{name: "CRLF ends a line", in: "a\r\n$", err: invalid(2, 1)},
		{name: "a bare CR ends a line", in: "a\r$", err: invalid(2, 1)},
		{name: "an unclosed brace is invalid", in: "${x", err: invalid(1, 1)},
		{name: "an unclosed brace around a defined name is invalid", in: "${A", err: invalid(1, 1)},
		{name: "empty braces are invalid", in: "${}", err: invalid(1, 1)},
		{name: "a digit cannot start a name", in: "$1", err: invalid(1, 1)},
		{name: "a digit cannot start a braced name", in: "${1x}", err: invalid(1, 1)},
		{name: "a space inside braces is invalid", in: "${ A}", err: invalid(1, 1)},
		{name: "the first problem is reported", in: "$UNDEF $", err: "'UNDEF'"},
		{name: "the first problem is reported, invalid first", in: "$ $UNDEF", err: invalid(1, 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := expandVars(tt.in, lookupIn(vars)); errText(err) != tt.err || tt.err == "" && got != tt.want {
				t.Errorf("expandVars(%q) = %q, %v; want %q, error %q", tt.in, got, err, tt.want, tt.err)
			}
		})
	}
}

// The command line.

func TestParseCommandLine(t *testing.T) {
	none := map[string]string{}
	tests := []struct {
		name          string
		args, words   []string
		set           map[string]string
		help, version bool
	}{
		{"nothing is nothing", nil, nil, none, false, false},
		{"a command and a name are words", []string{"status", "web"}, []string{"status", "web"}, none, false, false},
		{"a bool option may come before the command", []string{"--strict", "stop", "web"},
			[]string{"stop", "web"}, map[string]string{"strict": "true"}, false, false},
		{"a bool option may come after the name", []string{"stop", "web", "--strict"},
			[]string{"stop", "web"}, map[string]string{"strict": "true"}, false, false},
		{"an option may come between the command and the name", []string{"start", "-c", "sleep 1", "web"},
			[]string{"start", "web"}, map[string]string{"command": "sleep 1"}, false, false},
		{"--opt value takes the next argument", []string{"start", "web", "--command", "sleep 1"},
			[]string{"start", "web"}, map[string]string{"command": "sleep 1"}, false, false},
		{"--opt=value takes what follows =", []string{"start", "web", "--command=sleep 1"},
			[]string{"start", "web"}, map[string]string{"command": "sleep 1"}, false, false},
		{"--opt=value keeps later = signs", []string{"--command=env A=1 run"},
			nil, map[string]string{"command": "env A=1 run"}, false, false},
		{"--opt= gives an empty value", []string{"--stdout="}, nil, map[string]string{"stdout": ""}, false, false},
		{"-c value takes the next argument", []string{"-c", "sleep 1"},
			nil, map[string]string{"command": "sleep 1"}, false, false},
		{"-cvalue takes the rest of the argument", []string{"-csleep"},
			nil, map[string]string{"command": "sleep"}, false, false},
		{"-c=value takes what follows =", []string{"-c=a=b"}, nil, map[string]string{"command": "a=b"}, false, false},
		{"a value may look like a command", []string{"--command", "stop", "start", "web"},
			[]string{"start", "web"}, map[string]string{"command": "stop"}, false, false},
		{"numbers are recorded as written", []string{"--health-count", "10", "--health-delay=2."},
			nil, map[string]string{"health-count": "10", "health-delay": "2."}, false, false},
		{"a later value wins", []string{"--linger", "1", "--linger", "2"},
			nil, map[string]string{"linger": "2"}, false, false},
		{"-- ends options", []string{"start", "web", "--", "--strict", "-c"},
			[]string{"start", "web", "--strict", "-c"}, none, false, false},
		{"a lone dash is a word", []string{"status", "-"}, []string{"status", "-"}, none, false, false},
		{"a unique prefix names an option", []string{"--comm=x", "--str", "--ensure", "--health-cou", "3"}, nil,
			map[string]string{"command": "x", "strict": "true", "ensure-healthy": "true", "health-count": "3"},
			false, false},
		{"an exact name wins over longer names", []string{"--dir", "/srv"},
			nil, map[string]string{"dir": "/srv"}, false, false},
		{"--config and --debug are recorded", []string{"--config", "x.cfg", "--debug"},
			nil, map[string]string{"config": "x.cfg", "debug": "true"}, false, false},
		{"-h asks for help anywhere", []string{"start", "web", "-h"}, []string{"start", "web"}, none, true, false},
		{"--help asks for help", []string{"--help"}, nil, none, true, false},
		{"-v asks for the version", []string{"-v"}, nil, none, false, true},
		{"--version asks for the version", []string{"status", "--version"}, []string{"status"}, none, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseCommandLine(tt.args)
			if err != nil || !slices.Equal(got.words, tt.words) || !maps.Equal(got.set, tt.set) ||
				got.help != tt.help || got.version != tt.version {
				t.Errorf("parseCommandLine(%q) = %+v, %v\nwant words %q, set %q, help %v, version %v",
					tt.args, got, err, tt.words, tt.set, tt.help, tt.version)
			}
		})
	}
	for _, tt := range []struct {
		name       string
		args, want []string // want: words the message contains
	}{
		{"an unknown long option", []string{"status", "web", "--bogus"}, []string{"unrecognized arguments: --bogus"}},
		{"an unknown long option with a value", []string{"--bogus=1", "status", "web"},
			[]string{"unrecognized arguments: --bogus"}},
		{"an unknown short option", []string{"status", "web", "-x"}, []string{"unrecognized arguments: -x"}},
		{"an ambiguous prefix", []string{"status", "web", "--health", "1"},
			[]string{"ambiguous option: --health could match", "--health-command", "--health-count", "--health-delay"}},
		{"a prefix of --command and --config", []string{"--c", "x"},
			[]string{"ambiguous option: --c could match", "--command", "--config"}},
		{"a long option without its value", []string{"start", "web", "--command"},
			[]string{"--command", "expected one argument"}},
		{"a short option without its value", []string{"start", "web", "-c"},
			[]string{"--command", "expected one argument"}},
		{"a bad int", []string{"wait", "web", "--health-count", "abc"},
			[]string{"argument --health-count: invalid int value: 'abc'"}},
		{"a negative int", []string{"wait", "web", "--health-count=-1"},
			[]string{"argument --health-count: invalid int value: '-1'"}},
		{"a bad float", []string{"start", "web", "--linger", "soon"},
			[]string{"argument --linger: invalid float value: 'soon'"}},
		{"a bad float through a prefix", []string{"start", "web", "--health-d=x"},
			[]string{"argument --health-delay: invalid float value: 'x'"}},
		{"a bool option with a bad value", []string{"stop", "web", "--strict=maybe"}, []string{"--strict", "maybe"}},
	} {
		t.Run(tt.name+" is a usage error", func(t *testing.T) {
			cl, err := parseCommandLine(tt.args)
			if err == nil {
				t.Fatalf("parseCommandLine(%q) = %+v, want a usage error", tt.args, cl)
			}
			ce := codedErrorOf(t, err)
			if !ce.usage || ce.code != exitError {
				t.Errorf("parseCommandLine(%q): usage %v, code %d; want true, %d",
					tt.args, ce.usage, ce.code, exitError)
			}
			for _, w := range tt.want {
				if !strings.Contains(ce.msg, w) {
					t.Errorf("parseCommandLine(%q) error %q does not contain %q", tt.args, ce.msg, w)
				}
			}
		})
	}
}

func TestValidName(t *testing.T) {
	for _, name := range []string{"a", "web", "foo_bar-1", "A-Z_09", "-", "_"} {
		itEqual(t, fmt.Sprintf("validName(%q)", name), validName(name), true)
	}
	for _, name := range []string{"", "foo@bar", "foo bar", "a/b", "..", "a.b", "é", "web\n", "$x"} {
		itEqual(t, fmt.Sprintf("validName(%q)", name), validName(name), false)
	}
}

func TestParseSignal(t *testing.T) {
	for in, want := range map[string]syscall.Signal{"TERM": syscall.SIGTERM, "SIGTERM": syscall.SIGTERM,
		"term": syscall.SIGTERM, "sigkill": syscall.SIGKILL, "KILL": syscall.SIGKILL, "INT": syscall.SIGINT,
		"HUP": syscall.SIGHUP, "usr1": syscall.SIGUSR1, "9": syscall.SIGKILL, "15": syscall.SIGTERM} {
		if got, err := parseSignal(in); err != nil || got != want {
			t.Errorf("parseSignal(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "-1", "+9", "65", "1.5", "FOO", "SIG", " 9", "SIGSIGTERM"} {
		if got, err := parseSignal(in); err == nil {
			t.Errorf("parseSignal(%q) = %v, want an error", in, got)
		}
	}
}

// The whole client, for what it refuses before starting anything.

func TestRunReportsUsageErrors(t *testing.T) {
	stateDir := t.TempDir()
	t.Setenv("PROCDOG_DIR", stateDir)
	unsetenv(t, "BADENVVAR")
	empty := writeConfig(t, "")
	noCommand := "Must specify --command with 'start' or supply a command in the config file for this id ('web')"
	badName := "Invalid process name '%s'; must be alphanumeric, with only underscores or dashes"
	tests := []struct {
		name  string
		args  []string
		msg   string // the message after "procdog: error: "; exact when exact is set
		exact bool
	}{
		{"no arguments", nil, "the following arguments are required", false},
		{"an unknown command", []string{"frob", "web"}, "invalid choice: 'frob'", false},
		{"a missing name", []string{"start"}, "the following arguments are required: name", false},
		{"extra arguments", []string{"logs", "web", "extra", "more"}, "unrecognized arguments: extra more", false},
		{"extra arguments to list", []string{"list", "--json", "x", "y"}, "unrecognized arguments: x y", true},
		{"a missing signal", []string{"signal", "web"}, "the following arguments are required: signal", true},
		{"a missing name and signal", []string{"signal"}, "the following arguments are required: name, signal", true},
		{"an invalid name", []string{"status", "foo@bar"}, fmt.Sprintf(badName, "foo@bar"), true},
		{"an invalid name after options", []string{"--strict", "stop", "a b"}, fmt.Sprintf(badName, "a b"), true},
		{"a name too long for a socket", []string{"status", strings.Repeat("n", 120)}, "too long", false},
		{"start with no command", []string{"start", "web", "--config", empty}, noCommand, true},
		{"start with an empty command", []string{"start", "web", "--config", empty, "--command="}, noCommand, true},
		{"start with --shell and no command", []string{"start", "web", "--config", empty, "--shell"}, noCommand, true},
		{"a --dir that is not a directory", []string{"start", "web", "--config", empty, "-c", "true", "--dir", empty},
			"Not a directory: " + empty, true},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is a usage error", func(t *testing.T) {
			stdout, lines, code := runLines(t, tt.args...)
			if code != exitError || stdout != "" {
				t.Errorf("run(%q) = %d, stdout %q; want %d and nothing", tt.args, code, stdout, exitError)
			}
			if len(lines) == 3 && !strings.HasPrefix(lines[2], "procdog: error: ") &&
				strings.HasPrefix(lines[2], "procdog: ") {
				lines = lines[:2] // a hint that says what to do
			}
			if len(lines) != 2 || lines[0] != usageLine || !strings.HasPrefix(lines[1], "procdog: error: ") {
				t.Fatalf("run(%q) stderr = %q, want the usage line, then one 'procdog: error: ' line",
					tt.args, lines)
			}
			msg := strings.TrimPrefix(lines[1], "procdog: error: ")
			if tt.exact && msg != tt.msg || !strings.Contains(msg, tt.msg) {
				t.Errorf("run(%q) error\n got %q\nwant %q", tt.args, msg, tt.msg)
			}
		})
	}
	if entries, _ := os.ReadDir(stateDir); len(entries) != 0 {
		t.Errorf("usage errors left files in the state directory: %v", entries)
	}
}

func TestRunReportsBadConfigurationWithExit3(t *testing.T) {
	stateDir := t.TempDir()
	t.Setenv("PROCDOG_DIR", stateDir)
	unsetenv(t, "BADENVVAR")
	empty := writeConfig(t, "")
	badBool := writeConfig(t, "[web]\nstrict = not-valid\n")
	tests := []struct {
		name string
		args []string
		want string // stderr
	}{
		{"an undefined variable in the command",
			[]string{"start", "web", "--config", empty, "--command", "echo hello $BADENVVAR"},
			"procdog: error: could not expand environment variable names in command " +
				"'echo hello $BADENVVAR': 'BADENVVAR'"},
		{"a bad boolean in the config file", []string{"status", "web", "--config", badBool},
			"procdog: error: Not a boolean: not-valid"},
		{"an unbalanced quote in the command", []string{"start", "web", "--config", empty, "--command", "echo 'oops"},
			"procdog: error: could not split command 'echo 'oops': No closing quotation"},
		{"an unbalanced quote in the health command",
			[]string{"start", "web", "--config", empty, "-c", "true", "--health-command", `echo "a`},
			"procdog: error: could not split health_command 'echo \"a': No closing quotation"},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is exit 3", func(t *testing.T) { expectRun(t, tt.args, exitUnknown, "", tt.want) })
	}
	if entries, _ := os.ReadDir(stateDir); len(entries) != 0 {
		t.Errorf("configuration errors left files in the state directory: %v", entries)
	}
}

func TestRunPrintsHelpAndVersion(t *testing.T) {
	t.Setenv("PROCDOG_DIR", t.TempDir())
	help := helpText()
	for _, args := range [][]string{{"-h"}, {"--help"}} {
		expectRun(t, args, exitOK, help)
	}
	for _, args := range [][]string{{"-v"}, {"--version"}} {
		expectRun(t, args, exitOK, "procdog "+version+"\n")
	}
	if !strings.HasPrefix(help, "usage: procdog ") {
		t.Errorf("help starts %q, want the usage line", help[:min(len(help), 40)])
	}
	for _, s := range optionSpecs {
		if !strings.Contains(help, "--"+s.long) {
			t.Errorf("help does not mention --%s", s.long)
		}
	}
}

// Responses and exit codes.

func TestResponseRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		r    response
		line string
	}{
		{"running without a health command", newResponse(codeRunning, "pid", 14969), "running, pid=14969"},
		{"running with a health check, keys sorted", newResponse(codeRunning, "pid", 15240, "health", 0), "running, health=0, pid=15240"},
		{"running and unhealthy", newResponse(codeRunning, "pid", 7, "health", 1), "running, health=1, pid=7"},
		{"exited", newResponse(codeExited, "returncode", 1), "exited, returncode=1"},
		{"exited by a signal", newResponse(codeExited, "returncode", -15), "exited, returncode=-15"},
		{"exited with a health check, keys sorted", newResponse(codeExited, "returncode", 0, "health", 1), "exited, health=1, returncode=0"},
		{"killed", newResponse(codeKilled, "signal", 15), "killed, signal=15"},
		{"killed by SIGKILL", newResponse(codeKilled, "signal", 9), "killed, signal=9"},
		{"stopped", newResponse(codeStopped), "stopped"},
		{"invalid", newResponse(codeInvalid), "invalid"},
		{"restarts sorted with the other keys", newResponse(codeRunning, "restarts", 2, "pid", 3, "health", 0), "running, health=0, pid=3, restarts=2"},
		{"an error", errorResponse("Failed to start: %s", "nosuch: executable file not found in $PATH"),
			"error: Failed to start: nosuch: executable file not found in $PATH"},
		{"an error whose message contains commas and equals signs", errorResponse("a, b=c, d"), "error: a, b=c, d"},
		{"an error with an empty message", errorResponse(""), "error: "},
	}
	for _, tt := range tests {
		t.Run(tt.name+" encodes and parses back", func(t *testing.T) {
			itEqual(t, "String()", tt.r.String(), tt.line)
			for _, line := range []string{tt.line, tt.line + "\n", tt.line + "\r\n"} {
				got := parseResponse(line)
				if got.code != tt.r.code || got.msg != tt.r.msg || !maps.Equal(got.values, tt.r.values) {
					t.Errorf("parseResponse(%q) = %+v, want %+v", line, got, tt.r)
				}
			}
			d := tt.r // with details: a tab in them is JSON's \t
			d.healthError, d.notifyStatus, d.checks = "why\tnot, a=1", "up", 2
			if got := parseResponse(d.detailed() + "\n"); got.String() != tt.line || got.healthError != d.healthError || got.notifyStatus != "up" || got.checks != 2 {
				t.Errorf("parseResponse(%q) = %+v, want %+v", d.detailed(), got, d)
			}
		})
	}
}

func TestParseResponseRejectsGarbage(t *testing.T) {
	for _, line := range []string{
		"", "\n", "hello", "Running, pid=1", "running pid=1", "running,pid=1", "running, pid",
		"running, pid=", "running, pid=x", "running, pid=1.5", "running, =1", "running, pid=1, ",
		"running, p d=1", "running, a=b=1", "error:no space", "error, pid=1", " running, pid=1",
		"running, pid=99999999999999999999999",
	} {
		t.Run(quoted(line)+" is invalid", func(t *testing.T) {
			if got := parseResponse(line); got.code != codeInvalid {
				t.Errorf("parseResponse(%q) = %+v (%q), want invalid", line, got, got)
			}
		})
	}
}

func TestExitCodeFor(t *testing.T) {
	plain := options{}
	ensure := options{EnsureHealthy: true}
	strict := options{Strict: true}
	type exitCase struct {
		name    string
		command string
		line    string
		o       options
		want    int
	}
	tests := []exitCase{
		{"start of a running process is ok", "start", "running, pid=1", plain, exitOK},
		{"start of a running unhealthy process is ok without --ensure-healthy", "start", "running, health=1, pid=1", plain, exitOK},
		{"start of a process that exited is not running", "start", "exited, returncode=1", plain, exitNotRunning},
		{"start answered stopped is not running", "start", "stopped", plain, exitNotRunning},
		{"start --ensure-healthy of a healthy process is ok", "start", "running, health=0, pid=1", ensure, exitOK},
		{"start --ensure-healthy of an unhealthy process is not healthy", "start", "running, health=1, pid=1", ensure, exitUnhealthy},
		{"start --ensure-healthy without a health command is ok", "start", "running, pid=1", ensure, exitOK},
		{"start --ensure-healthy that stopped the process is not healthy", "start", "killed, signal=15", ensure, exitUnhealthy},
		{"start --ensure-healthy of a process that exited is not healthy", "start", "exited, returncode=0", ensure, exitUnhealthy},
		{"status of a running process is ok", "status", "running, pid=1", plain, exitOK},
		{"status of a running unhealthy process is ok", "status", "running, health=3, pid=1", plain, exitOK},
		{"status of an exited process is not running", "status", "exited, health=0, returncode=0", plain, exitNotRunning},
		{"status of a stopped process is not running", "status", "stopped", plain, exitNotRunning},
		{"status --ensure-healthy of a healthy process is ok", "status", "running, health=0, pid=1", ensure, exitOK},
		{"status --ensure-healthy of an unhealthy process is not healthy", "status", "running, health=1, pid=1", ensure, exitUnhealthy},
		{"status --ensure-healthy without a health command is ok", "status", "running, pid=1", ensure, exitOK},
		{"status --ensure-healthy of a stopped process is not healthy", "status", "stopped", ensure, exitUnhealthy},
		{"status --ensure-healthy of an exited process is not healthy", "status", "exited, health=0, returncode=0", ensure, exitUnhealthy},
		{"wait for a healthy process is ok", "wait", "running, health=0, pid=1", plain, exitOK},
		{"wait for an unhealthy process is not healthy", "wait", "running, health=1, pid=1", plain, exitUnhealthy},
		{"wait for a running process without a health command is ok", "wait", "running, pid=1", plain, exitOK},
		{"wait for a stopped process is not healthy", "wait", "stopped", plain, exitUnhealthy},
		{"wait for an exited process is not healthy", "wait", "exited, returncode=0", plain, exitUnhealthy},
		{"stop that killed the process is ok", "stop", "killed, signal=15", plain, exitOK},
		{"stop of a stopped process is ok", "stop", "stopped", plain, exitOK},
		{"stop of an exited process is ok", "stop", "exited, returncode=-15", plain, exitOK},
		{"stop --strict that killed the process is ok", "stop", "killed, signal=9", strict, exitOK},
		{"stop --strict of a stopped process is not running", "stop", "stopped", strict, exitNotRunning},
		{"stop --strict of an exited process is not running", "stop", "exited, returncode=0", strict, exitNotRunning},
	}
	for _, command := range []string{"start", "status", "wait", "stop"} {
		for _, o := range []options{plain, ensure, strict} {
			flags := fmt.Sprintf(" (ensure-healthy=%v, strict=%v)", o.EnsureHealthy, o.Strict)
			tests = append(tests,
				exitCase{command + " answered with an error is exit 2" + flags, command, "error: Failed to start: x", o, exitError},
				exitCase{command + " answered invalid is exit 3" + flags, command, "invalid", o, exitUnknown})
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := exitCodeFor(tt.command, parseResponse(tt.line), tt.o); got != tt.want {
				t.Errorf("exitCodeFor(%q, %q, ensure-healthy=%v strict=%v) = %d, want %d",
					tt.command, tt.line, tt.o.EnsureHealthy, tt.o.Strict, got, tt.want)
			}
		})
	}
}

// Fuzz targets. Their seeds run in every plain go test.

func FuzzParseINI(f *testing.F) {
	for _, seed := range []string{
		"", "[web]\ncommand = sleep 1\n", "[DEFAULT]\nlinger=4\n[web]\nA : b\n  c\n",
		"# c\n; c\n[s]\n\na=1\r\nb=\n\tx\n", "[]\n", "[a]b]\nk=v", "k=v", "[s]\njunk", "[s]\n =x",
		"[s]\n  indented = x\n", "\n\n  \n", "[s]\na=1\n# c\n  more\n", "[\u00e9]\n\u00c9=\u00e8\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, text string) {
		sections, err := parseINI(text)
		if !strings.Contains(text, "\r") {
			crlfSections, crlfErr := parseINI(strings.ReplaceAll(text, "\n", "\r\n"))
			if (err == nil) != (crlfErr == nil) || !reflect.DeepEqual(sections, crlfSections) {
				t.Errorf("parseINI(%q) = %q, %v\nbut with CRLF = %q, %v", text, sections, err, crlfSections, crlfErr)
			}
		}
		if err != nil {
			return
		}
		for name, section := range sections {
			if name == "" {
				t.Errorf("parseINI(%q) has a section with no name", text)
			}
			for k := range section {
				if k == "" || k != strings.TrimSpace(k) || k != strings.ToLower(k) || strings.ContainsAny(k, "=:") {
					t.Errorf("parseINI(%q) has key %q in [%s], want a trimmed lower-case key without = or :", text, k, name)
				}
			}
		}
	})
}

func FuzzSplitWords(f *testing.F) {
	for _, seed := range []string{
		"", "a b", `'a b' "c\"d" e\ f`, "''", `a''b`, `"a\`, "'abc", `x\`, "a\\\nb", `"\\\'"`, " \t\r\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		words, err := splitWords(s)
		if err != nil {
			if msg := err.Error(); msg != "No closing quotation" && msg != "No escaped character" {
				t.Errorf("splitWords(%q): unexpected error %q", s, msg)
			}
			return
		}
		if !strings.ContainsAny(s, `'"\`) {
			fields := strings.FieldsFunc(s, func(r rune) bool { return strings.ContainsRune(" \t\r\n", r) })
			if !slices.Equal(words, fields) {
				t.Errorf("splitWords(%q) = %q, want the fields %q", s, words, fields)
			}
		}
		quoted := make([]string, len(words))
		for i, w := range words {
			quoted[i] = shellQuote(w)
		}
		line := strings.Join(quoted, " ")
		if again, err := splitWords(line); err != nil || !slices.Equal(again, words) {
			t.Errorf("splitWords(%q) = %q, but splitting them quoted (%q) gives %q, %v", s, words, line, again, err)
		}
	})
}

func FuzzExpandVars(f *testing.F) {
	for _, seed := range []string{
		"", "plain", "$A", "${A}", "$$", "$$A", "echo $", "a\n$ b", "${x", "${}", "$1", "$UNDEF", "x\r\n$%", "${A}}",
	} {
		f.Add(seed)
	}
	vars := lookupIn(map[string]string{"A": "1", "B": "$B", "EMPTY": ""})
	f.Fuzz(func(t *testing.T, s string) {
		got, err := expandVars(s, vars)
		if err != nil && !expandError.MatchString(err.Error()) {
			t.Errorf("expandVars(%q): unexpected error %q", s, err)
		}
		if !strings.Contains(s, "$") && (err != nil || got != s) {
			t.Errorf("expandVars(%q) = %q, %v; want it unchanged", s, got, err)
		}
		escaped := strings.ReplaceAll(s, "$", "$$")
		if got, err := expandVars(escaped, vars); err != nil || got != s {
			t.Errorf("expandVars(%q) = %q, %v; want %q", escaped, got, err, s)
		}
	})
}

func FuzzParseResponse(f *testing.F) {
	for _, seed := range []string{
		"running, pid=1", "running, health=0, pid=2", "exited, returncode=-15", "exited, health=1, returncode=0",
		"killed, signal=15", "stopped", "invalid", "error: a, b=c", "error: ", "", "garbage", "running, pid=x",
		"running, pid=1, pid=2", "running, pid=+7\r\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, line string) {
		encoded := parseResponse(line).String()
		if again := parseResponse(encoded).String(); again != encoded {
			t.Errorf("parseResponse(%q) encodes as %q, which parses and encodes as %q", line, encoded, again)
		}
	})
}

func FuzzParseCommandLine(f *testing.F) {
	// Arguments are separated by NUL bytes, which no real argument contains.
	for _, seed := range []string{
		"", "start\x00web\x00--command\x00sleep 1", "--strict\x00stop\x00web", "-csleep", "--comm=x", "--health\x001",
		"--\x00--strict", "-", "--", "-x", "--=", "--linger", "--health-count=abc", "-h", "-v", "--strict=maybe",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, joined string) {
		args := strings.Split(joined, "\x00")
		cl, err := parseCommandLine(args)
		if err != nil {
			if ce := codedErrorOf(t, err); !ce.usage || ce.code != exitError {
				t.Errorf("parseCommandLine(%q) = %+v, want a usage error", args, ce)
			}
			return
		}
		for long, value := range cl.set {
			spec, ok := findOption(long)
			if !ok {
				t.Errorf("parseCommandLine(%q) set unknown option %q", args, long)
				continue
			}
			if err := spec.set(&options{}, value); err != nil {
				t.Errorf("parseCommandLine(%q) accepted --%s %q, which does not parse: %v", args, long, value, err)
			}
		}
	})
}

// FuzzMonitorRequest feeds arbitrary bytes to the monitor's connection handler and checks that it
// answers exactly as the protocol says, or drops the connection, and never panics or hangs.
func FuzzMonitorRequest(f *testing.F) {
	for _, seed := range []string{"status\n", "\n", "wait\n", "stop\n", "bogus\n", "status", "", " stop \r\n",
		"options\n", "signal HUP\n", "signal 99\n", "signal\n", "status +\n", "wait 1 - 0.5 +\n",
		"status\nstop\n", strings.Repeat("x", maxRequestLine-1), strings.Repeat("y", 5000)} {
		f.Add([]byte(seed))
	}
	devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	itMust(f, err)
	f.Fuzz(func(t *testing.T, req []byte) {
		// A process that has exited with code 3: every known request answers its state at once.
		run := &childRun{exited: make(chan struct{}), returncode: 3}
		close(run.exited)
		m := &monitor{name: "fuzz", o: defaultOptions(), logOut: devNull, run: run, state: lingering,
			events: make(chan func())}
		sigs := make(chan os.Signal, 1)
		go m.loop(sigs)
		defer func() { sigs <- syscall.SIGTERM }() // which ends a lingering monitor's loop
		fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
		itMust(t, err)
		server, client := fileConn(t, fds[0]), fileConn(t, fds[1])
		defer client.Close()
		go m.serve(server)
		go func() {
			client.Write(req)
			client.(*net.UnixConn).CloseWrite()
		}()
		client.SetReadDeadline(time.Now().Add(itCommandTimeout))
		answer, err := io.ReadAll(client)
		if err != nil && !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("reading the answer: %v", err)
		}
		want := ""
		if i := bytes.IndexByte(req, '\n'); i >= 0 && i < maxRequestLine || i < 0 && len(req) > 0 && len(req) < maxRequestLine {
			line, _, _ := bytes.Cut(req, []byte("\n"))
			req, detailed := strings.CutSuffix(strings.TrimSpace(string(line)), withDetails)
			verb, arg, _ := strings.Cut(req, " ")
			_, badSignal := parseSignal(arg)
			waitArgs, o := strings.Fields(orDefault(arg, "- - -")), defaultOptions()
			for i, long := range []string{"health-count", "health-delay", "health-timeout"} {
				if s, _ := findOption(long); len(waitArgs) == 3 && waitArgs[i] != "-" && s.set(&o, waitArgs[i]) != nil {
					waitArgs = nil // a wait with an invalid option of its own is an invalid request
				}
			}
			switch r := newResponse(codeInvalid); {
			case req == "options":
				want = m.o.quotedFlags() + "\n"
			case req == "" || req == "status" || req == "stop" || verb == "signal" && badSignal == nil || verb == "wait" && len(waitArgs) == 3:
				r = newResponse(codeExited, "returncode", 3)
				r.checks = map[bool]int{true: 1}[verb == "wait"]
				fallthrough
			default:
				if want = r.String() + "\n"; detailed {
					want = r.detailed() + "\n"
				}
			}
		}
		if string(answer) != want {
			t.Fatalf("request %q: want answer %q, got %q", req, want, answer)
		}
	})
}

func TestResponseJSONMatchesEncodingJSON(t *testing.T) {
	for _, r := range []response{
		newResponse(codeRunning, "pid", 12, "health", 0),
		newResponse(codeExited, "returncode", -15, "restarts", 2),
		newResponse(codeStopped),
		errorResponse("Failed to start: \"x\": not found, really"),
	} {
		obj := map[string]any{"name": "web", "state": r.code}
		for k, v := range r.values {
			obj[k] = v
		}
		if r.code == codeError {
			obj["error"] = r.msg
		}
		want, _ := json.Marshal(obj)
		itEqual(t, fmt.Sprintf("%v as JSON", r), r.json("web"), string(want))
	}
}

// export systemd and export launchd: the quoting, checked against a model of how systemd reads an
// Exec line; golden files for the original's config file example, testdata/export.service.golden
// and export.plist.golden, with the temporary directory as $TMP (UPDATE=1 go test -run
// TestExportGolden . rewrites them on purpose); and, where the tools exist, systemd-analyze verify
// and plutil -lint on what the real binary writes.

// TestExportQuote: each word is quoted as shown, and reads back as itself.
func TestExportQuote(t *testing.T) {
	for _, q := range []struct {
		name  string
		quote func(string) string
		read  func(string) ([]string, error)
		cases [][2]string // a word and how it is quoted
	}{
		{"systemdQuote", systemdQuote, exportUnquoteSystemd, [][2]string{
			{"/usr/bin/python3", "/usr/bin/python3"},
			{"--bind=127.0.0.1:8080", "--bind=127.0.0.1:8080"},
			{"100%", "100%%"},
			{"$HOME", "$$HOME"},
			{"a b", `"a b"`},
			{"", `""`},
			{";", `";"`},
			{`say "hi"`, `"say \"hi\""`},
			{`C:\dir`, `"C:\\dir"`},
			{"it's", `"it's"`},
			{"two\nlines\tand\ra bell\a", `"two\nlines\tand\x0da bell\x07"`},
			{"café", `"café"`},
			{"\xff", `"\xff"`},
			{`echo "$$((1+1))" 50% > f`, `"echo \"$$$$((1+1))\" 50%% > f"`},
		}},
		{"shellQuote", shellQuote, splitWords, [][2]string{
			{"/usr/bin/curl", "/usr/bin/curl"},
			{"*", "'*'"},
			{"", "''"},
			{"it's $HOME", `'it'\''s $HOME'`},
		}},
	} {
		for _, c := range q.cases {
			got := q.quote(c[0])
			if got != c[1] {
				t.Errorf("%s(%q) = %s, want %s", q.name, c[0], got, c[1])
			}
			if back, err := q.read(got); err != nil || len(back) != 1 || back[0] != c[0] {
				t.Errorf("%s: %s reads back as %q (%v), want [%q]", q.name, got, back, err, c[0])
			}
		}
	}
}

func TestExportPlistString(t *testing.T) {
	for _, tc := range []struct{ in, want string }{ // want "" where a plist cannot hold in
		{"/usr/bin/java", "/usr/bin/java"},
		{`a & b <c> "d" 'e'`, `a &amp; b &lt;c&gt; "d" 'e'`},
		{"tab\tnewline\ncr\r", "tab\tnewline\ncr&#13;"},
		{"café", "café"},
		{"bell\a", ""},
		{"\xff", ""},
		{"\uFFFE", ""},
	} {
		j := &exportJob{}
		got := j.plistString(tc.in)
		if (j.err == nil) != (tc.want != "") || j.err == nil && got != tc.want {
			t.Errorf("plistString(%q) = %q, %v; want %q", tc.in, got, j.err, tc.want)
		}
		var back struct {
			S string `xml:"string"`
		}
		err := xml.Unmarshal([]byte("<x><string>"+got+"</string></x>"), &back)
		if j.err == nil && (err != nil || back.S != tc.in) {
			t.Errorf("XML reads %q back as %q (%v)", got, back.S, err)
		}
	}
}

func TestExportRestartWindow(t *testing.T) {
	for _, tc := range []struct {
		delay          float64
		restarts, want int
	}{
		{1, 5, 10 + 1 + 2 + 4 + 8 + 16 + 30},
		{0.5, 3, 18},
		{0, 5, 10},
		{40, 2, 10 + 3*30},
		{1, 1000000000, 10 + 1 + 2 + 4 + 8 + 16 + (1000000000-4)*30},
	} {
		o := defaultOptions()
		o.RestartDelay, o.MaxRestarts = tc.delay, tc.restarts
		itEqual(t, fmt.Sprintf("exportRestartWindow(delay %g, %d restarts)", tc.delay, tc.restarts),
			exportRestartWindow(o), tc.want)
	}
}

// FuzzExportSystemdQuote: systemd reads every word back as it was; no raw line break, lone % or lone $ reaches the unit.
func FuzzExportSystemdQuote(f *testing.F) {
	for _, s := range []string{"", "a b", "100%", "$HOME", "${X}", `"\`, ";", "\n", "\xff\x00", "%%$$", "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, w string) {
		if strings.ContainsRune(w, 0) {
			return // export refuses it: no process can be given a NUL
		}
		q := systemdQuote(w)
		if strings.ContainsAny(q, "\n\r") {
			t.Fatalf("systemdQuote(%q) = %q holds a line break", w, q)
		}
		if strings.Count(q, "%") != 2*strings.Count(w, "%") || strings.Count(q, "$") != 2*strings.Count(w, "$") {
			t.Fatalf("systemdQuote(%q) = %q leaves a %% or $ undoubled", w, q)
		}
		back, err := exportUnquoteSystemd("/bin/x " + q + " " + q)
		if err != nil || len(back) != 3 || back[1] != w || back[2] != w {
			t.Fatalf("systemd reads %q back as %q (%v), want %q twice", q, back, err, w)
		}
	})
}

// TestExportGolden exports the original's config file example in both formats and compares them
// with the golden files, with fake tools first on PATH so that they name no machine's own paths. It
// also checks what --env becomes, and that a health check procdog only reports is commented out,
// with a warning.
func TestExportGolden(t *testing.T) {
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "bin")
	for _, dir := range []string{bin, filepath.Join(tmp, "backend")} {
		itMust(t, os.Mkdir(dir, 0o755))
	}
	for _, tool := range []string{"java", "curl", "timeout"} {
		itMust(t, os.WriteFile(filepath.Join(bin, tool), []byte("#!/bin/sh\nexit 0\n"), 0o755))
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("HOME", tmp)
	t.Setenv("PROCDOG_DIR", filepath.Join(tmp, "state"))
	cfg := filepath.Join(tmp, "procdog.cfg")
	itWrite(t, cfg, exportReadmeConfig)
	for _, tc := range []struct {
		args                  []string
		golden, want, warning string
	}{
		{[]string{"systemd", "backend", "--config", cfg}, "export.service.golden", "", ""},
		{[]string{"launchd", "backend", "--config", cfg}, "export.plist.golden", "",
			"procdog: warning: the launchd output does not express: " +
				"truncating the output files (launchd appends); the health check (see its comments)\n"},
		{[]string{"systemd", "envy", "-c", "sleep 100", "--env", "A=$$HOME 100%", "--env", "B=two words"}, "",
			"Environment=\"A=$HOME 100%%\"\nEnvironment=\"B=two words\"\n", ""},
		{[]string{"launchd", "envy", "-c", "sleep 100", "--env", "A=<&>"}, "",
			"<key>A</key>\n\t\t<string>&lt;&amp;&gt;</string>", ""},
		{[]string{"systemd", "ready", "-c", "java -jar ready.jar", "--dir", tmp, "--health-notify"},
			"export.notify.service.golden", "Type=notify\n", ""},
		{[]string{"systemd", "h", "-c", "sleep 100", "--health-command", "true"}, "",
			"\n#ExecStartPost=/bin/sh -c ", "procdog: warning: the systemd output does not express: " +
				"the health check, which only procdog status reports (commented out) (see its comments)\n"},
		{[]string{"systemd", "l", "-c", "true", "--health-log", "up"}, "", "\n# The health check is left out: " +
			"--health-log is no command a unit can run.\n", "procdog: warning: the systemd output does not " +
			"express: the health check (--health-log is no command a unit can run) (see its comments)\n"},
	} {
		stdout, stderr, err := exportRun(t, tc.args...)
		if err != nil || stderr != tc.warning || !strings.Contains(stdout, tc.want) {
			t.Fatalf("export %q: %v, stderr %q, want the warning %q and %q in\n%s",
				tc.args, err, stderr, tc.warning, tc.want, stdout)
		}
		if tc.golden == "" {
			continue
		}
		got := strings.ReplaceAll(stdout, tmp, "$TMP")
		path := filepath.Join("testdata", tc.golden)
		if os.Getenv("UPDATE") != "" {
			itWrite(t, path, got)
		}
		if want, err := os.ReadFile(path); err != nil || got != string(want) {
			t.Errorf("export %q differs from %s (%v; UPDATE=1 rewrites it):\n%s", tc.args, path, err, got)
		}
		if tc.args[0] == "systemd" {
			exportVerify(t, filepath.Join(tmp, "procdog-backend.service"), stdout)
		} else {
			exportCheckPlist(t, stdout, []string{filepath.Join(bin, "java"), "-classpath", "my-backend.jar",
				"com.example.BackendServer", "server", "config.yml"})
		}
	}
}

// TestExportSystemdVerify exports units with the real binary and has systemd-analyze verify them
// where it exists; their Exec lines must read back, as systemd reads them, as what start would run,
// and their health loops pass and fail as procdog's own health checks do.
func TestExportSystemdVerify(t *testing.T) {
	e := itParallel(t)
	srv := itHTTPServer(t)
	itWrite(t, filepath.Join(e.work, "ready now"), "")
	sleep := []string{exportLookPath(t, "sleep"), "100"}
	health := func(probe ...string) []string {
		return append([]string{"-c", "sleep 100", "--ensure-healthy", "--health-count", "2",
			"--health-delay", "0.05", "--health-timeout", "5"}, probe...)
	}
	tests := []struct {
		name   string
		args   []string
		argv   []string
		lines  []string
		health int // the health loop's exit code, or -1 for none
	}{
		{"plain", []string{"-c", "sleep 100"}, sleep, []string{"Restart=no", "StandardOutput=journal",
			"StandardError=journal", "KillSignal=SIGTERM", "TimeoutStopSec=10"}, -1},
		{"shell", []string{"--shell", "-c", `echo "it's $$HOME" 100% > out.txt; exec sleep 100`},
			[]string{"/bin/sh", "-c", `echo "it's $HOME" 100% > out.txt; exec sleep 100`},
			[]string{`Description=procdog shell: echo "it's $HOME" 100%% > out.txt; exec sleep 100`}, -1},
		{"files", []string{"-c", "sleep 100", "--stdin", "in.txt", "--stdout", "out dir/o.log",
			"--stderr", "e%.log", "--append"}, sleep, []string{"StandardInput=file:$WORK/in.txt",
			"StandardOutput=append:$WORK/out dir/o.log", "StandardError=append:$WORK/e%%.log"}, -1},
		{"truncated", []string{"-c", "sleep 100", "--stdout", "o.log", "--stderr", "o.log"}, sleep,
			[]string{"StandardOutput=truncate:$WORK/o.log", "StandardError=truncate:$WORK/o.log"}, -1},
		{"restart", []string{"-c", "sleep 100", "--restart", "on-failure", "--max-restarts", "3",
			"--restart-delay", "0.5", "--stop-signal", "hup", "--stop-timeout", "0.5"}, sleep,
			[]string{"Restart=on-failure", "RestartSec=0.5", "StartLimitBurst=4", "StartLimitIntervalSec=18",
				"RestartForceExitStatus=SIGHUP SIGINT SIGTERM SIGPIPE", "KillSignal=SIGHUP",
				"TimeoutStopSec=0.5"}, -1},
		{"always", []string{"-c", "sleep 100", "--restart", "always", "--restart-delay", "60"}, sleep,
			[]string{"Restart=always", "RestartSec=30", "StartLimitBurst=6", "StartLimitIntervalSec=190"}, -1},
		{"ready", []string{"-c", "sleep 100", "--health-command", "test -e 'ready now'", "--health-count", "2",
			"--health-delay", "0.1", "--ensure-healthy"}, sleep, []string{"TimeoutStartSec=31"}, 0},
		{"unready", health("--health-command", "test -e 'not ready'"), sleep, nil, 1},
		{"url-ok", health("--health-url", srv.URL+"/ok"), sleep, nil, 0},
		{"url-redirect", health("--health-url", srv.URL+"/redirect"), sleep, nil, 0},
		{"url-fail", health("--health-url", srv.URL+"/fail"), sleep, nil, 1},
		{"tcp-open", health("--health-tcp", itTCPListener(t)), sleep, nil, 0},
		{"tcp-closed", health("--health-tcp", itClosedAddr(t)), sleep, nil, 1},
	}
	for _, tc := range tests {
		r := e.run(append([]string{"export", "systemd", tc.name}, tc.args...)...)
		tool := map[string]string{"url": "curl", "tcp": "bash"}[tc.name[:3]]
		if _, err := exec.LookPath(tool); tool != "" && err != nil {
			if r.code != 0 || !strings.Contains(r.stderr, "procdog: warning: ") {
				t.Errorf("without %s, want a warning:\n%s", tool, r)
			}
			continue
		}
		if r.code != 0 || r.stderr != "" {
			t.Fatalf("export failed:\n%s", r)
		}
		unit := strings.ReplaceAll(r.stdout, e.work, "$WORK")
		for _, want := range tc.lines {
			if !slices.Contains(strings.Split(unit, "\n"), want) {
				t.Errorf("%s: no line %q in\n%s", tc.name, want, unit)
			}
		}
		if got := exportExecLine(t, r.stdout, "ExecStart"); !slices.Equal(got, tc.argv) {
			t.Errorf("%s: systemd reads ExecStart as %q, want %q", tc.name, got, tc.argv)
		}
		exportVerify(t, filepath.Join(t.TempDir(), "procdog-"+tc.name+".service"), r.stdout)
		if tc.health >= 0 {
			if code := exportHealthScript(t, r.stdout, e.work); code != tc.health {
				t.Errorf("%s: the health loop exited %d, want %d\n%s", tc.name, code, tc.health, r.stdout)
			}
		}
	}
}

// TestExportLaunchdPlist exports plists with the real binary: XML that parses, ProgramArguments as
// procdog splits the command, and one warning line for what launchd cannot do.
func TestExportLaunchdPlist(t *testing.T) {
	e := itParallel(t)
	command := `printf '%s <&> "é"\n' "a]]>b" --`
	words, err := splitWords(command)
	itMust(t, err)
	shell := `echo "a & b" > 'out file'; exec sleep 100`
	warning := "procdog: warning: the launchd output does not express: "
	for _, tc := range []struct {
		args    []string
		argv    []string
		warning string
		values  map[string]string // "" for a key that must be absent
	}{
		{[]string{"plain", "-c", command}, append([]string{exportLookPath(t, "printf")}, words[1:]...), "",
			map[string]string{"Label": "string:procdog.plain", "RunAtLoad": "true:",
				"ExitTimeOut": "integer:10", "WorkingDirectory": "string:" + e.work,
				"KeepAlive": "", "StandardOutPath": "", "StandardInPath": ""}},
		{[]string{"shell", "--shell", "-c", shell, "--stdout", "o.log", "--append", "--restart", "on-failure",
			"--restart-delay", "2.5", "--stop-timeout", "0.5", "--health-tcp", "127.0.0.1:1"},
			[]string{"/bin/sh", "-c", shell}, warning + "max_restarts=5; the health check (see its comments)\n",
			map[string]string{"StandardOutPath": "string:" + filepath.Join(e.work, "o.log"),
				"ExitTimeOut": "integer:1", "ThrottleInterval": "integer:3",
				"KeepAlive": "dict:<key>SuccessfulExit</key><false/>"}},
		{[]string{"always", "-c", "sleep 1", "--restart", "always", "--stop-signal", "INT"},
			[]string{exportLookPath(t, "sleep"), "1"},
			warning + "stop_signal=INT; max_restarts=5 (see its comments)\n",
			map[string]string{"KeepAlive": "true:"}},
	} {
		r := e.run(append([]string{"export", "launchd"}, tc.args...)...)
		if r.code != 0 || r.stderr != tc.warning {
			t.Fatalf("want exit 0 and the warning %q:\n%s", tc.warning, r)
		}
		values := exportCheckPlist(t, r.stdout, tc.argv)
		for key, want := range tc.values {
			if got, ok := values[key]; got != want || ok && want == "" {
				t.Errorf("%s: %s = %q, want %q", tc.args[0], key, got, want)
			}
		}
	}
}

// TestExportUsageErrors: export's words and a missing command are usage errors, the latter the one start gives, naming export.
func TestExportUsageErrors(t *testing.T) {
	e := itParallel(t)
	e.expect("", usageLine+"\nprocdog: error: the following arguments are required: format, name", 2, "export")
	e.expect("", usageLine+"\nprocdog: error: the following arguments are required: name", 2, "export", "systemd")
	e.expect("", usageLine+"\nprocdog: error: argument format: invalid choice: 'upstart' (choose from 'systemd', 'launchd')",
		2, "export", "upstart", "x", "-c", "true")
	e.expect("", usageLine+"\nprocdog: error: unrecognized arguments: y", 2, "export", "systemd", "x", "y", "-c", "true")
	e.expect("", usageLine+"\nprocdog: error: Invalid process name 'a.b'; must be alphanumeric, with only underscores or dashes",
		2, "export", "launchd", "a.b", "-c", "true")
	start := e.run("start", "x")
	for _, format := range exportFormats {
		want := strings.Replace(start.stderr, "with 'start'", "with 'export'", 1)
		if r := e.run("export", format, "x"); r.code != 2 || r.stdout != "" || r.stderr != want {
			t.Errorf("a missing command: want exit 2 and what start says, of export,\n%s\ngot\n%s", start, r)
		}
	}
	e.expect("", "procdog: error: Failed to start: no-such-command-here: executable file not found in $PATH",
		2, "export", "systemd", "x", "-c", "no-such-command-here")
	e.expect("", "procdog: error: Failed to run health command: no-such-command-here: executable file not found in $PATH",
		2, "export", "systemd", "x", "-c", "true", "--health-command", "no-such-command-here")
	e.expect("", "procdog: error: could not split command 'echo \"x': No closing quotation",
		3, "export", "systemd", "x", "-c", `echo "x`)
	e.expect("", "procdog: error: cannot export max_restarts=4294967295: a systemd unit holds at most 4294967294", 3, "export", "systemd", "x", "-c", "true", "--restart", "always", "--max-restarts", "4294967295")
	e.expect("", "procdog: error: cannot export health_count=9223372036854775807: a systemd unit cannot wait {N} seconds for the health check", 3, "export", "systemd", "x", "-c", "true", "--health-command", "true", "--health-count", "9223372036854775807")
	itWrite(t, e.path("nul", "cfg"), "[x]\ncommand = true\nenv = A=x\x00y\n") // as no command line can give it
	e.expect("", `procdog: error: cannot export 'x': "A=x\x00y" holds a NUL byte, which no process can be given`, 3, "export", "systemd", "x", "--config", e.path("nul", "cfg"))
}

// TestExportOutput: --output writes the file, whole, and refuses one that is not the user's own regular file, leaving it untouched.
func TestExportOutput(t *testing.T) {
	e := itParallel(t)
	args := []string{"export", "systemd", "out", "-c", "sleep 100"}
	unit := e.run(args...).stdout
	path := filepath.Join(e.work, "procdog-out.service")
	itWrite(t, path, strings.Repeat("an older, longer file\n", 200))
	e.expect("", "", 0, append(args, "--output", path)...)
	if got, _ := os.ReadFile(path); string(got) != unit {
		t.Errorf("--output wrote\n%s\nwant\n%s", got, unit)
	}
	target, link, fifo, hard := filepath.Join(e.work, "target"), filepath.Join(e.work, "link.service"),
		filepath.Join(e.work, "fifo.service"), filepath.Join(e.work, "hard.service")
	itWrite(t, target, "keep\n")
	itMust(t, errors.Join(os.Symlink(target, link), syscall.Mkfifo(fifo, 0o600), os.Link(target, hard)))
	e.expect("", "procdog: error: refusing to write "+hard+": it has other names (hard links)", 3, append(args, "--output", hard)...)
	e.expect("", "procdog: error: refusing to write "+link+": it is a symbolic link", 3, append(args, "--output", link)...)
	e.expect("", "procdog: error: refusing to write "+fifo+": it is not a regular file", 3, append(args, "--output", fifo)...)
	if os.Getuid() == 0 {
		// Only root can give a file away, to see that export will not write it.
		itMust(t, os.Chown(target, 12345, -1))
		e.expect("", "procdog: error: refusing to write "+target+": it belongs to another user (uid 12345)",
			3, append(args, "--output", target)...)
	}
	if got, _ := os.ReadFile(target); string(got) != "keep\n" {
		t.Errorf("a refused --output changed its target to %q", got)
	}
}

// A newcomer's first hour: errors that say what to do, help for one command, health failures that
// explain themselves, and a list of what is alive.

func TestUsageErrorsSayWhatToDo(t *testing.T) {
	t.Setenv("PROCDOG_DIR", t.TempDir())
	tests := []struct {
		name string
		args []string
		want []string // the stderr lines after the usage line
	}{
		{"no command", nil, []string{"procdog: error: the following arguments are required: COMMAND",
			"procdog: COMMAND is one of start, status, wait, stop, restart, list, signal, logs, show, export; 'procdog -h' for help"}},
		{"a swap of two letters", []string{"strat", "web"}, []string{
			"procdog: error: argument command: invalid choice: 'strat' (choose from " + commandChoices + ")",
			"procdog: did you mean 'start'?"}},
		{"a letter missing", []string{"sigal", "web", "HUP"}, []string{
			"procdog: error: argument command: invalid choice: 'sigal' (choose from " + commandChoices + ")",
			"procdog: did you mean 'signal'?"}},
		{"help for a typo", []string{"help", "restrat"}, []string{
			"procdog: error: argument command: invalid choice: 'restrat' (choose from " + commandChoices + ")",
			"procdog: did you mean 'restart'?"}},
		{"nothing near", []string{"frobnicate", "web"}, []string{
			"procdog: error: argument command: invalid choice: 'frobnicate' (choose from " + commandChoices + ")"}},
		{"a mistyped option", []string{"start", "web", "--ensure-helthy"}, []string{
			"procdog: error: unrecognized arguments: --ensure-helthy", "procdog: did you mean '--ensure-healthy'?"}},
		{"no option near", []string{"stop", "web", "--frobnicate"}, []string{"procdog: error: unrecognized arguments: --frobnicate"}},
		{"version takes no words", []string{"version", "x"}, []string{"procdog: error: unrecognized arguments: x"}},
		{"help takes one command", []string{"help", "start", "x"}, []string{"procdog: error: unrecognized arguments: x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { expectRun(t, tt.args, exitError, "", append([]string{usageLine}, tt.want...)...) })
	}
}

func TestHelpAndVersionAsCommands(t *testing.T) {
	t.Setenv("PROCDOG_DIR", t.TempDir())
	stop := commands[slices.IndexFunc(commands, func(c commandSpec) bool { return c.name == "stop" })]
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"help"}, helpText()},
		{[]string{"help", "stop"}, commandHelp(stop)},
		{[]string{"stop", "-h"}, commandHelp(stop)},
		{[]string{"stop", "web", "--help"}, commandHelp(stop)},
		{[]string{"-h", "stop"}, commandHelp(stop)},
		{[]string{"version"}, "procdog " + version + "\n"},
	}
	for _, tt := range tests {
		expectRun(t, tt.args, exitOK, tt.want)
	}
}

func TestCommandHelpListsWhatTheCommandUses(t *testing.T) {
	tests := []struct {
		command string
		has     []string
		hasNot  []string
	}{
		{"start", []string{"usage: procdog start NAME... [options]", "--command", "--health-url", "--json", "$ procdog start web"}, []string{"--lines", "--follow", "--all", "--version"}},
		{"restart", []string{"--command", "--linger"}, []string{"--lines"}},
		{"status", []string{"--ensure-healthy", "--json", "$ procdog status web", "exit 6 unless"}, []string{"--command", "--strict", "start waits for health,"}},
		{"stop", []string{"--strict", "--json"}, []string{"--command", "--ensure-healthy"}},
		{"signal", []string{"usage: procdog signal NAME SIG [options]", "$ procdog signal web HUP", "exit 6 unless"}, []string{"--command", "start waits for health,"}},
		{"list", []string{"--all", "--json"}, []string{"--command", "--config"}},
		{"logs", []string{"-n, --lines", "-f, --follow", "--stdout", "--dir"}, []string{"--command", "--json"}},
	}
	for _, tt := range tests {
		c := commands[slices.IndexFunc(commands, func(c commandSpec) bool { return c.name == tt.command })]
		help := commandHelp(c)
		for _, s := range tt.has {
			if !strings.Contains(help, s) {
				t.Errorf("%s -h does not show %q:\n%s", tt.command, s, help)
			}
		}
		for _, s := range tt.hasNot {
			if strings.Contains(help, s+" ") || strings.Contains(help, s+"\n") {
				t.Errorf("%s -h shows %q, which it does not use:\n%s", tt.command, s, help)
			}
		}
		if n := strings.Count(help, "\n"); n >= strings.Count(helpText(), "\n") {
			t.Errorf("%s -h has %d lines, no fewer than the whole help", tt.command, n)
		}
	}
	// Each command's description starts in one column; every exit code is named.
	_, table, _ := strings.Cut(helpText(), "commands:\n")
	for _, line := range strings.Split(strings.Split(table, "\n\n")[0], "\n") {
		if !regexp.MustCompile(`^  ([^ ].{14}|[ ]{15})  [^ ]|^  [^ ]+( [^ ]+)*$`).MatchString(line) {
			t.Errorf("help: a command's line is out of line: %q", line)
		}
	}
	if !strings.Contains(helpText(), "6 not healthy, 130 interrupted.") {
		t.Errorf("help does not name exit code 130:\n%s", helpText())
	}
}

func TestEditDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"start", "start", 0}, {"strat", "start", 1}, {"stat", "start", 1}, {"stpo", "stop", 1},
		{"", "wait", 4}, {"lsit", "list", 1}, {"kitten", "sitting", 3},
	}
	for _, tt := range tests {
		itEqual(t, fmt.Sprintf("editDistance(%q, %q)", tt.a, tt.b), editDistance(tt.a, tt.b), tt.want)
	}
	for word, want := range map[string]string{"strat": "start", "STOP": "stop", "lgos": "logs", "hlep": "help",
		"versoin": "version", "x": "", "frobnicate": "", "restarts": "restart"} {
		itEqual(t, fmt.Sprintf("nearest(%q)", word), nearest(word, commandNames), want)
	}
}

func TestBadValuesNameTheRule(t *testing.T) {
	t.Setenv("PROCDOG_DIR", t.TempDir())
	sigRule := fmt.Sprintf(" (a name such as TERM, HUP or KILL, or a number from 1 to %d)", maxSignal())
	envRule := "want KEY=VALUE, KEY a name of letters, digits and underscores"
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"start", "x", "-c", "true", "--linger", "-1"}, "argument --linger: invalid float value: '-1' (a number of seconds, 0 or more)"},
		{[]string{"start", "x", "-c", "true", "--settle=soon"}, "argument --settle: invalid float value: 'soon' (a number of seconds, 0 or more)"},
		{[]string{"start", "x", "-c", "true", "--linger", "90000"}, "argument --linger: invalid float value: '90000' (at most 86400 seconds, one day)"},
		{[]string{"wait", "x", "--health-count", "-2"}, "argument --health-count: invalid int value: '-2' (a whole number, 0 or more)"},
		{[]string{"logs", "x", "-n", "ten"}, "argument --lines: invalid int value: 'ten' (a whole number, 0 or more)"},
		{[]string{"start", "x", "-c", "true", "--stop-signal", "NOPE"}, "argument --stop-signal: invalid signal: 'NOPE'" + sigRule},
		{[]string{"signal", "x", "65"}, "argument signal: invalid signal: '65'" + sigRule},
		{[]string{"start", "x", "-c", "true", "--restart", "often"}, "argument --restart: invalid choice: 'often' (choose from 'no', 'on-failure', 'always')"},
		{[]string{"start", "x", "-c", "true", "--max-restarts=many"}, "argument --max-restarts: invalid int value: 'many' (a whole number, 0 or more)"},
		{[]string{"start", "x", "-c", "true", "--restart-delay=-1"}, "argument --restart-delay: invalid float value: '-1' (a number of seconds, 0 or more)"},
		{[]string{"start", "x", "-c", "true", "--health-log", "(("}, "argument --health-log: not a regular expression: error parsing regexp: missing closing ): `((`"},
		{[]string{"start", "x", "-c", "true", "--health-log", "x", "--health-tcp", "127.0.0.1:1"},
			"use only one of --health-command, --health-url, --health-tcp, --health-log, --health-notify"},
		{[]string{"start", "x", "-c", "true", "--env", "NOEQUALS"}, "argument --env: invalid env word 'NOEQUALS': " + envRule},
		{[]string{"start", "x", "-c", "true", "--env", "1A=x"}, "argument --env: invalid env word '1A=x': " + envRule},
		{[]string{"start", "x", "-c", "true", "--env", "=x"}, "argument --env: invalid env word '=x': " + envRule},
	}
	for _, tt := range tests {
		expectRun(t, tt.args, exitError, "", usageLine, "procdog: error: "+tt.want)
	}
	path := writeConfig(t, "[x]\ncommand=true\nhealth_count=ten\n")
	expectRun(t, []string{"start", "x", "--config", path}, exitUnknown, "", "procdog: error: invalid int value: "+
		"'ten' (a whole number, 0 or more) for config key 'health_count' in '"+path+"'")
}

func TestMessagesSayWhatToWrite(t *testing.T) {
	t.Setenv("PROCDOG_DIR", t.TempDir())
	unsetenv(t, "BADENVVAR")
	empty := writeConfig(t, "")
	hint := "procdog: write $$ for a literal $: procdog expands $VAR and ${VAR} itself, before any shell sees the command"
	tests := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"restart with nothing to restart and no command", []string{"restart", "web", "--config", empty}, exitError, []string{usageLine,
			"procdog: error: Must specify --command with 'restart' or supply a command in the config file for this id ('web')",
			"procdog: no command for 'web' in the config file " + empty}},
		{"start with no command keeps the original's text", []string{"start", "web", "--config", empty}, exitError, []string{usageLine,
			"procdog: error: Must specify --command with 'start' or supply a command in the config file for this id ('web')",
			"procdog: no command for 'web' in the config file " + empty}},
		{"a shell's $1", []string{"start", "web", "--config", empty, "--shell", "-c", "echo $1"}, exitUnknown, []string{
			"procdog: error: could not expand environment variable names in command 'echo $1': Invalid placeholder in string: line 1, col 6", hint}},
		{"a shell's $(cmd) in a health command", []string{"start", "web", "--config", empty, "-c", "true", "--health-command", "test $(date)"}, exitUnknown, []string{
			"procdog: error: could not expand environment variable names in health_command 'test $(date)': Invalid placeholder in string: line 1, col 6", hint}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { expectRun(t, tt.args, tt.code, "", tt.want...) })
	}
}

func TestHealthProbesAreCheckedAtStart(t *testing.T) {
	tests := []struct {
		o        options
		wantMsg  string // "" for none
		wantHint string
	}{
		{options{HealthURL: "http://127.0.0.1:8080/ping"}, "", ""},
		{options{HealthURL: "http://localhost/"}, "", ""},
		{options{HealthURL: "http://[::1]:8080/"}, "", ""},
		{options{HealthTCP: "127.0.0.1:5432"}, "", ""},
		{options{HealthTCP: "[::1]:65535"}, "", ""},
		{options{HealthTCP: "localhost:1"}, "", ""},
		{options{HealthURL: "http://nosuchhost.invalid/"}, "argument --health-url: unknown host 'nosuchhost.invalid' in 'http://nosuchhost.invalid/'", ""},
		{options{HealthTCP: "nosuchhost.invalid:80"}, "argument --health-tcp: unknown host 'nosuchhost.invalid' in 'nosuchhost.invalid:80'", ""},
		{options{HealthURL: "http://:8080/"}, "argument --health-url: no host in 'http://:8080/'", ""},
		{options{HealthURL: "http://h:/"}, "argument --health-url: no port in 'http://h:/'", ""},
		{options{HealthURL: "http://127.0.0.1:70000/"}, "argument --health-url: port '70000' is not a number from 1 to 65535 in 'http://127.0.0.1:70000/'", ""},
		{options{HealthTCP: "127.0.0.1:0"}, "argument --health-tcp: port '0' is not a number from 1 to 65535 in '127.0.0.1:0'", ""},
		{options{HealthTCP: "127.0.0.1:http"}, "argument --health-tcp: port 'http' is not a number from 1 to 65535 in '127.0.0.1:http'", ""},
		{options{HealthTCP: ":80"}, "argument --health-tcp: no host in ':80'", ""},
		{options{HealthTCP: "127.0.0.1"}, "argument --health-tcp: not HOST:PORT: '127.0.0.1'", ""},
		{options{HealthURL: "https://127.0.0.1/"}, "argument --health-url: not an http:// URL: 'https://127.0.0.1/'", ""},
		{options{HealthURL: "127.0.0.1:80"}, "argument --health-url: not an http:// URL: '127.0.0.1:80'", ""},
		{options{HealthURL: "http://"}, "argument --health-url: not an http:// URL: 'http://'", ""},
		{options{HealthURL: "http://[::1"}, "argument --health-url: not an http:// URL: 'http://[::1'", ""},
		{options{HealthTCP: "nohostport"}, "argument --health-tcp: not HOST:PORT: 'nohostport'", ""},
	}
	for _, tt := range tests {
		err := tt.o.checkHealthProbes()
		if tt.wantMsg == "" {
			if err != nil {
				t.Errorf("checkHealthProbes(%q%q) = %v, want nil", tt.o.HealthURL, tt.o.HealthTCP, err)
			}
			continue
		}
		ce := codedErrorOf(t, err)
		if ce.msg != tt.wantMsg || ce.hint != tt.wantHint || !ce.usage || ce.code != exitError {
			t.Errorf("checkHealthProbes(%q%q) = %q, hint %q, usage %v, code %d\nwant %q, hint %q, a usage error",
				tt.o.HealthURL, tt.o.HealthTCP, ce.msg, ce.hint, ce.usage, ce.code, tt.wantMsg, tt.wantHint)
		}
	}
}

func TestHealthFailuresSayWhy(t *testing.T) {
	tests := []struct {
		health        int
		why, lastLine string
		want          string
	}{
		{0, "", "anything", ""},
		{3, "", "", "health command exited with 3"},
		{7, "", "curl: (7) Failed to connect", "health command exited with 7: curl: (7) Failed to connect"},
		{-15, "", "", "health command ended by signal 15"},
		{-9, "health command killed after 2s", "still trying", "health command killed after 2s: still trying"},
	}
	for _, tt := range tests {
		itEqual(t, fmt.Sprintf("healthCommandFailure(%d, %q, %q)", tt.health, tt.why, tt.lastLine),
			healthCommandFailure(tt.health, tt.why, tt.lastLine), tt.want)
	}
	var log bytes.Buffer
	out := "first\nthe last words\n  \n"
	if got := copyLastLine(&log, out); got != "the last words" || log.String() != out {
		t.Errorf("lastLine = %q, log %q; want %q and all of it", got, log.String(), "the last words")
	}
	itEqual(t, "the length of lastLine of a long line, 200 and ...", len(copyLastLine(&log, strings.Repeat("x", 500))), 203)
	itEqual(t, "lastLine of a line without a newline", copyLastLine(&log, "no newline at the end"), "no newline at the end")
	// A log that cannot be written (a full disk) must not stop the reading.
	long := strings.Repeat("chunk\n", 4096) + "the last words\n"
	itEqual(t, "lastLine into a log that fails", copyLastLine(failingWriter{}, long), "the last words")
	itEqual(t, "probeFailure(timeout)", probeFailure("x:1", fmt.Errorf("connect x: %w", os.ErrDeadlineExceeded), 2*time.Second),
		"no answer within 2s")
	r := newResponse(codeRunning, "pid", 5, "health", 1)
	r.healthError = `GET http://h/: HTTP status 500 "x"`
	itEqual(t, "json", r.json("w"), `{"health":1,"health_error":"GET http://h/: HTTP status 500 \"x\"","name":"w","pid":5,"state":"running"}`)
	itEqual(t, "the response line with a health error", r.String(), "running, health=1, pid=5")
}

func TestOnlyWhatACommandUsesIsExpanded(t *testing.T) {
	unsetenv(t, "IT_NOPE")
	path := writeConfig(t, "[web]\ncommand=serve $IT_NOPE\nhealth_url=http://127.0.0.1:$IT_NOPE/\nstdout=$IT_NOPE/out\nstop_signal=INT\n")
	tests := []struct {
		command string
		fails   bool
	}{
		{"start", true}, {"restart", true}, {"logs", true},
		{"status", false}, {"wait", false}, {"stop", false}, {"signal", false}, {"list", false},
	}
	for _, tt := range tests {
		cl := commandLine{words: []string{tt.command, "web"}, set: map[string]string{"config": path}}
		o, err := resolveOptions(cl, "web")
		if tt.fails {
			if ce := codedErrorOf(t, err); ce.code != exitUnknown || !strings.Contains(ce.msg, "'IT_NOPE'") {
				t.Errorf("%s: error %q (exit %d), want the expansion error, exit 3", tt.command, ce.msg, ce.code)
			}
			continue
		}
		if err != nil || o.StopSignal != "INT" {
			t.Errorf("%s: %v, stop signal %q; want no error and the file's other keys", tt.command, err, o.StopSignal)
		}
	}
	// The command line too: stop does not run --command.
	cl, err := parseCommandLine([]string{"stop", "web", "--command", "serve $IT_NOPE", "--config", path})
	itMust(t, err)
	if _, err := resolveOptions(cl, "web"); err != nil {
		t.Errorf("stop with an unexpandable --command: %v", err)
	}
}

// copyLastLine writes s to a lastLine over log, in a pipe's 4 KiB pieces, and returns the line it kept.
func copyLastLine(log io.Writer, s string) string {
	l := &lastLine{log: log}
	io.CopyBuffer(struct{ io.Writer }{l}, strings.NewReader(s), make([]byte, 4096))
	return l.String()
}

func TestLastLineKeepsLittleOfAHugeLine(t *testing.T) {
	huge := io.MultiReader(strings.NewReader("first line\n"), io.LimitReader(zeroReader{'x'}, 64<<20))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	l := &lastLine{log: io.Discard}
	io.CopyBuffer(struct{ io.Writer }{l}, huge, make([]byte, 4096))
	last := l.String()
	runtime.ReadMemStats(&after)
	if last != strings.Repeat("x", 200)+"..." {
		t.Errorf("the last line of a 64 MiB line: got %d bytes, want 200 x", len(last))
	}
	if grown := after.TotalAlloc - before.TotalAlloc; grown > 1<<20 {
		t.Errorf("passing on a 64 MiB line allocated %d bytes; want it read in small pieces", grown)
	}
}

func TestHealthLogPatternIsCheckedAtStart(t *testing.T) {
	ce := codedErrorOf(t, options{HealthLog: `ready (`}.checkHealthProbes())
	want := "argument --health-log: not a regular expression: error parsing regexp: missing closing ): `ready (`"
	if ce.msg != want || !ce.usage || ce.code != exitError {
		t.Errorf("checkHealthProbes = %q, usage %v, code %d; want %q, a usage error", ce.msg, ce.usage, ce.code, want)
	}
	if err := (options{HealthLog: `(?i)^\pL+ ready on \d+$`}).checkHealthProbes(); err != nil {
		t.Errorf("checkHealthProbes of a good pattern = %v, want nil", err)
	}
}

// ---------------------------------------------------------------------------
// Integration tests: the real binary, driving real processes, checking the exact response line,
// stderr and exit code of every command.

// TestItStartSettles: start answers as soon as the process exits, however long the settle time. A
// process that exits at once gets a settle time far longer than it needs, so that a slow or loaded
// machine cannot make it outlive that and be reported running. (What start prints for a process
// that exits is the tour's; --settle 0 answering running at once is TestItEnv's.)
func TestItStartSettles(t *testing.T) {
	e := itParallel(t)
	for range 5 {
		begin := time.Now()
		e.expect("exited, returncode=1", "", 5, "start", "f", "--command", "false", "--settle", "60", "--linger", "0.2")
		if d := time.Since(begin); d > 20*time.Second {
			t.Fatalf("start of an exiting process with --settle 60 took %v; want it to answer once the process exits", d)
		}
	}
}

// TestItProtocol talks to a monitor's socket directly, as the README says any program can.
func TestItProtocol(t *testing.T) {
	e := itParallel(t)
	r := e.expect("running, pid={N}", "", 0, "start", "p", "-c", "sleep 100", "--linger", itWindow)
	for _, tc := range []struct{ request, answer string }{
		{"status\n", r.stdout},
		{"\n", r.stdout},
		{"wait\n", r.stdout},
		{"bogus\n", "invalid\n"},
		{"stop\n", "killed, signal=15\n"},
		{"status\n", "exited, returncode=-15\n"},
	} {
		conn, err := net.DialTimeout("unix", e.path("p", "sock"), itSoon)
		if err != nil {
			t.Fatalf("request %q: %v", tc.request, err)
		}
		conn.SetDeadline(time.Now().Add(itSoon))
		_, err = io.WriteString(conn, tc.request)
		var answer string
		if err == nil {
			answer, err = bufio.NewReader(conn).ReadString('\n')
		}
		conn.Close()
		if err != nil || answer != tc.answer {
			t.Errorf("request %q: want %q, got %q (%v)", tc.request, tc.answer, answer, err)
		}
	}
}

// TestItFailedStartsLeaveNothing: a start that cannot run its command or its health command, or
// open its files, fails at once with one line that says why, touches none of the other files, and
// leaves nothing in the state directory but its log; its monitor ends. A FIFO with no reader is
// such a path, not one to wait on.
func TestItFailedStartsLeaveNothing(t *testing.T) {
	e := itParallel(t)
	fifo := filepath.Join(e.work, "fifo")
	itMust(t, syscall.Mkfifo(fifo, 0o600))
	out := filepath.Join(e.work, "out.log")
	itWrite(t, out, "precious\n")
	itWrite(t, filepath.Join(e.work, "notexec"), "#!/bin/sh\necho hi\n")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"nf", []string{"--command", "procdog-no-such-command --flag"},
			"error: Failed to start: procdog-no-such-command: executable file not found in $PATH"},
		{"ne", []string{"--command", "./notexec"}, "error: Failed to start: ./notexec: permission denied"},
		{"nl", []string{"--command", "'no\nsuch'"}, `error: Failed to start: no\nsuch: executable file not found in $PATH`},
		{"nohealth", []string{"--health-command", "nosuchcommand-procdog"},
			"error: Failed to run health command: nosuchcommand-procdog: executable file not found in $PATH"},
		{"stdout", []string{"--stdout", "/nonexistent/out.log"}, "error: cannot open stdout: open /nonexistent/out.log: no such file or directory"},
		{"fifo", []string{"--stdout", fifo}, "error: cannot open stdout: " + fifo + " is a FIFO with no reader"},
		{"stderr", []string{"--stdout", out, "--stderr", "/nonexistent/err.log"},
			"error: cannot open stderr: open /nonexistent/err.log: no such file or directory"},
		{"stdin", []string{"--stdin", "/nonexistent/input"}, "error: cannot open stdin: open /nonexistent/input: no such file or directory"},
		{"dir", []string{"--stdin", e.work}, "error: cannot open stdin: " + e.work + " is a directory"},
	} {
		e.expect(tc.want, "", 2, append([]string{"start", tc.name, "--command", "sleep 100", "--linger", "0.2"}, tc.args...)...)
		e.expect("stopped", "", 5, "status", tc.name)
	}
	if b, _ := os.ReadFile(out); string(b) != "precious\n" {
		t.Errorf("a start that failed on stderr changed the stdout file to %q", b)
	}
	// With no room for the record that finds the process again (a full disk; here a file size limit).
	ctx, cancel := context.WithTimeout(context.Background(), itCommandTimeout)
	defer cancel()
	cmd := e.command(ctx, "start", "full", "--command", "sleep 100")
	cmd.Path, cmd.Args = "/bin/sh", append([]string{"sh", "-c", `ulimit -f 0 && exec "$@"`, "sh"}, cmd.Args...)
	e.check(e.finish(ctx, cmd, cmd.Args), "", "procdog: error: cannot record process {N}, to find it should the monitor end: write "+e.path("full", "lock")+": file too large", 3)
	if files := e.stateFiles(); len(files) != 0 {
		t.Fatalf("failed starts left state files behind: %v", files)
	}
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, pid := range e.monitorPids() {
		itDead(t, itSoon, "a failed start's monitor", pid)
	}
	for _, dir := range procs { // the monitor that could not log, and its process
		if pid, _ := strconv.Atoi(filepath.Base(dir)); e.owns(pid) {
			itDead(t, itSoon, "what a failed start ran", pid)
		}
	}
}

// TestItHealth: wait runs the monitor's health check until it passes or --health-count checks
// have failed (a count of 0 still checks once), and start --ensure-healthy
// stops what never passes. The answers of passing and failing checks are the tour's and
// TestExitCodeFor's.
func TestItHealth(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, check, count string
		atStart, afterWait string // the health= of start's answer and wait's
		code               int    // wait's exit code
		checks             int    // how many checks ran, start's first among them
		why                string // wait's stderr: why the last check failed
	}{
		{"wait retries until healthy", `sh -c 'echo x >> checks; test $$(wc -l < checks) -ge 3'`, "5", "1", "0", 0, 3, ""},
		{"wait gives up after health-count checks", `sh -c 'echo x >> checks; exit 7'`, "3", "7", "7", 6, 4,
			"procdog: error: 'h' is not healthy after 3 checks: health command exited with 7"},
		{"wait with a health count of 0 still checks once", `sh -c 'echo x >> checks; exit 1'`, "0", "1", "1", 6, 2,
			"procdog: error: 'h' is not healthy after 1 check: health command exited with 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := itParallel(t)
			r := e.expect("running, health="+tc.atStart+", pid={N}", "", 0, "start", "h", "-c", "sleep 100", "--health-command", tc.check,
				"--health-count", tc.count, "--health-delay", "0.05", "--linger", "0.2")
			e.expect(strings.Replace(r.line(), "health="+tc.atStart, "health="+tc.afterWait, 1), tc.why, tc.code, "wait", "h")
			itFileLines(t, filepath.Join(e.work, "checks"), slices.Repeat([]string{"x"}, tc.checks)...)
		})
	}
	t.Run("ensure-healthy", func(t *testing.T) {
		e := itParallel(t)
		// Checks for 10 s, far longer than the process runs: the wait ends when it exits.
		e.expect("exited, health=1, returncode=2", "", 6, "start", "exits", "-c", "sh -c 'sleep 0.3; exit 2'", "--health-command", "false",
			"--health-count", "100", "--health-delay", "0.1", "--ensure-healthy", "--linger", "0.2")
		// What never gets healthy is stopped. $$$$ is $$ for the shell: its pid, which exec hands
		// on to sleep. The check fails only once the pid file is there, so that the process is not
		// stopped before it has written it.
		e.expect("killed, signal=15", "procdog: error: 'h' is not healthy after 3 checks: health command exited with 1", 6,
			"start", "h", "--shell", "-c", "echo $$$$ > pid; exec sleep 100",
			"--health-command", "sh -c 'until test -s pid; do sleep 0.01; done; false'",
			"--health-count", "2", "--health-delay", "0.05", "--ensure-healthy", "--linger", itWindow)
		if pid := itPidFile(e, filepath.Join(e.work, "pid")); itAlive(pid) {
			t.Errorf("pid %d is alive after start --ensure-healthy answered killed", pid)
		}
		e.expect("exited, health=1, returncode=-15", "", 5, "status", "h")
	})
}

// TestItOutputFiles: the process's output and input files, and what --shell interprets.
func TestItOutputFiles(t *testing.T) {
	t.Parallel()
	const outErr = "sh -c 'echo out1; echo err1 >&2; echo out2; exec sleep 100'"
	const cat = "sh -c 'cat; echo eof; exec sleep 100'"
	for _, tc := range []struct {
		name  string
		args  []string
		files map[string][]string // the lines each file must hold
	}{
		{"one file for both streams", []string{"--stdout", "both", "--stderr", "both", "-c", outErr},
			map[string][]string{"both": {"HEADER", "out1", "err1", "out2"}}},
		{"separate files", []string{"--stdout", "o", "--stderr", "e", "-c", outErr},
			map[string][]string{"o": {"HEADER", "out1", "out2"}, "e": {"HEADER", "err1"}}},
		{"--stdin, inside --dir", []string{"--dir", "d", "--stdin", "in", "--stdout", "out", "-c", cat},
			map[string][]string{"d/out": {"HEADER", "line one", "line two", "eof"}}},
		{"stdin is /dev/null by default", []string{"--stdout", "out", "-c", cat},
			map[string][]string{"out": {"HEADER", "eof"}}},
		// (As --stdout, with no reader, a FIFO fails the start: see
		// TestItFailedStartsLeaveNothing.)
		{"a FIFO as --stdin is not waited for", []string{"--stdin", "fifo", "-c", "sleep 100"}, nil},
		{"--shell: pipes and &&", []string{"--shell", "--stdout", "out", "--stderr", "out",
			"-c", "echo hello | tr a-z A-Z && echo second >&2 && exec sleep 100"},
			map[string][]string{"out": {"HEADER", "HELLO", "second"}}},
		{"stdout and stderr that are one file through a link share it", []string{"--shell", "--stdout", "out", "--stderr", "link",
			"-c", "echo a; echo b >&2; echo c; exec sleep 100"}, map[string][]string{"out": {"HEADER", "a", "b", "c"}}},
		{"without --shell nothing is interpreted", []string{"--stdout", "out",
			"-c", `sh -c 'echo "$$@"; exec sleep 100' sh 'a  b' "c\"d" | x && y *`},
			map[string][]string{"out": {"HEADER", `a  b c"d | x && y *`}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := itParallel(t)
			itMust(t, os.Mkdir(filepath.Join(e.work, "d"), 0o755))
			itWrite(t, filepath.Join(e.work, "d", "in"), "line one\nline two\n")
			itMust(t, syscall.Mkfifo(filepath.Join(e.work, "fifo"), 0o600))
			itMust(t, os.Symlink("out", filepath.Join(e.work, "link")))
			e.expect("running, pid={N}", "", 0, append([]string{"start", "o", "--linger", "0.2"}, tc.args...)...)
			for file, lines := range tc.files {
				itFileLines(t, filepath.Join(e.work, file), lines...)
			}
			e.expect("killed, signal=15", "", 0, "stop", "o")
		})
	}
}

// TestItStateFiles: while a process runs, its name has a socket, a lock and a log, for their owner
// only; the lock goes when the process exits, and the socket and the monitor once the monitor has
// stopped lingering, when the name reads stopped again. Each log line is stamped and names the
// monitor.
func TestItStateFiles(t *testing.T) {
	e := itParallel(t)
	r := e.expect("running, pid={N}", "", 0, "start", "f", "-c", "sleep 100", "--linger", itWindow)
	pid := itPid(t, r)
	sock, lock, log := e.path("f", "sock"), e.path("f", "lock"), e.path("f", "log")
	for _, p := range []string{sock, lock, log} {
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatalf("while running: %v", err)
		}
		if m := fi.Mode(); p == sock && (m&fs.ModeSocket == 0 || m.Perm() != 0o600) {
			t.Errorf("%s: want a socket with mode srw-------, got %v", p, m)
		} else if p != sock && (!m.IsRegular() || m.Perm()&0o077 != 0) {
			t.Errorf("%s: want a regular file for its owner only, got %v", p, m)
		}
	}
	e.expect(r.line(), "", 0, "status", "f") // for the log
	e.expect("killed, signal=15", "", 0, "stop", "f")
	itGone(t, itSoon, lock) // gone once the process has exited
	if !itExists(sock) {
		t.Errorf("%s is gone while the monitor lingers", sock)
	}
	text := itLog(e, "f")
	// The socket goes, and the monitor ends, once the linger is over: seen with a new monitor for f
	// that lingers briefly, rather than by waiting out this one.
	e.expect("running, pid={N}", "", 0, "start", "f", "-c", "sleep 100", "--linger", "0.2")
	e.expect("killed, signal=15", "", 0, "stop", "f")
	itGone(t, itWindowWait, sock)
	e.expect("stopped", "", 5, "status", "f")
	itDead(t, itSoon, "the monitor after its linger time", e.monitorPid("f"))

	// Each line is stamped, and names the one monitor and the name.
	lines := regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z procdog\[(\d+)\] f: `).FindAllStringSubmatch(text, -1)
	if len(lines) < 4 || len(lines) != strings.Count(text, "\n") {
		t.Fatalf("monitor log: want a stamped line per event, got %q", text)
	}
	for _, m := range lines {
		if m[2] != lines[0][2] || m[2] == strconv.Itoa(pid) {
			t.Errorf("monitor log: want every line from the one monitor, not the process %d; got\n%s", pid, text)
		}
	}
	for _, want := range []string{r.line(), "killed, signal=15"} {
		if !strings.Contains(text, want) {
			t.Errorf("monitor log: want a line with the response %q, got\n%s", want, text)
		}
	}

	// A relative PROCDOG_DIR is the client's working directory's.
	e.setenv("PROCDOG_DIR", "relative-state")
	e.expect("running, pid={N}", "", 0, "start", "rel", "--command", "sleep 100", "--linger", "0.2")
	if !itExists(filepath.Join(e.work, "relative-state", "procdog.rel.sock")) {
		t.Fatalf("no socket in the client's relative state directory")
	}
	e.expect("killed, signal=15", "", 0, "stop", "rel")
	e.setenv("PROCDOG_DIR", filepath.Join(e.work, "relative-state", "procdog.rel.log"))
	e.expect("", "procdog: error: cannot list the state directory: open "+filepath.Join(e.work, "relative-state",
		"procdog.rel.log")+": not a directory", 3, "list")
	// Another user could swap the files of two names in a directory they own or may write to.
	shared := filepath.Join(e.work, "shared")
	refused := "procdog: error: refusing to use the state directory " + shared + ": "
	itMust(t, errors.Join(os.Mkdir(shared, 0o700), os.Chmod(shared, 0o777)))
	e.setenv("PROCDOG_DIR", shared)
	e.expect("", refused+"other users may write to it, and it is not sticky (as /var/tmp is)", 3, "status", "x")
	itMust(t, os.Chmod(shared, 0o777|os.ModeSticky))
	e.expect("stopped", "", 5, "status", "x")
	if os.Getuid() == 0 && os.Chown(shared, 65534, 65534) == nil {
		e.expect("", refused+"it belongs to another user (uid 65534)", 3, "start", "x", "-c", "sleep 100")
	}
}

// TestItMonitorIsTheProcessParent: the monitor leads a session of its own, with /dev/null as its
// stdin and the monitor log as its output, and holds no descriptor of its caller's, nor does the
// process, which has its standard files alone. As "procdog start ... 5>&1 | cat", the caller here
// leaves a pipe open on descriptors 3, 4 and 5.
func TestItMonitorIsTheProcessParent(t *testing.T) {
	e := itParallel(t)
	pr, pw, err := os.Pipe()
	itMust(t, err)
	defer pr.Close()
	ctx, cancel := context.WithTimeout(context.Background(), itCommandTimeout)
	defer cancel()
	cmd := e.command(ctx, "start", "p", "--command", "sleep 100", "--linger", "0.2")
	cmd.ExtraFiles = []*os.File{pw, pw, pw}
	r := e.finish(ctx, cmd, cmd.Args[1:])
	pw.Close()
	pid := itPid(t, e.check(r, "running, pid={N}", "", 0))
	pr.SetReadDeadline(time.Now().Add(itSoon))
	if n, err := pr.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("the caller's pipe is still open in what procdog started (read %d, %v)", n, err)
	}
	if itNoProc() {
		return
	}
	if fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); err != nil || len(fds) != 3 {
		t.Errorf("the process has %d descriptors open (%v), want 0, 1 and 2", len(fds), err)
	}
	parent := itStat(pid, 4)
	if monitors := e.monitorPids(); len(monitors) != 1 || monitors[0] != parent {
		t.Errorf("want the process's parent %d to be the one monitor in the log, got %v", parent, monitors)
	}
	if sid := itStat(parent, 6); sid != parent {
		t.Errorf("monitor %d: want it to lead its own session, got session %d", parent, sid)
	}
	want := map[string]string{"0": os.DevNull, "1": e.path("p", "log"), "2": e.path("p", "log")}
	for fd, path := range want {
		if got, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", parent, fd)); err != nil || got != path {
			t.Errorf("monitor fd %s: want %s, got %q (%v)", fd, path, got, err)
		}
	}
}

// TestItVendored copies procdog.go alone into a module whose go line is the oldest it builds with
// (one loop variable for all iterations), and runs it with `go run`, as someone at a prompt
// would: go run exits 1 on any failure, the real code on stderr.
func TestItVendored(t *testing.T) {
	e := itParallel(t)
	goBin, _ := itGoSetup(t, e)
	src, err := os.ReadFile("procdog.go")
	itMust(t, err)
	dir := itGoDir(t, map[string]string{"procdog.go": string(src), "go.mod": "module v\n\ngo 1.21\n"})
	r := e.goExpect(goBin, dir, "running, pid={N}", "", 0, "run", ".", "start", "v", "--command", "sleep 100", "--linger", "0.2")
	if pid := itPid(t, r); !itAlive(pid) {
		t.Errorf("pid %d is not alive after go run procdog.go start", pid)
	}
	e.goExpect(goBin, dir, "killed, signal=15", "", 0, "run", ".", "stop", "v")
	e.goExpect(goBin, dir, "stopped", "exit status 5", 1, "run", ".", "status", "never-started")
}

// TestItGoTool vendors procdog the way the README says: procdog.go in tools/procdog/ of a module
// that has its own main package, registered with `go mod edit -tool`, and run with `go tool
// procdog` from the module's root and a subdirectory. Unlike go run, go tool passes exit codes on.
func TestItGoTool(t *testing.T) {
	e := itParallel(t)
	goBin, version := itGoSetup(t, e)
	if goversion.IsValid(version) && goversion.Compare(version, "go1.24") < 0 {
		t.Skipf("%s has no go tool directive; it came in go1.24", version)
	}
	src, err := os.ReadFile("procdog.go")
	itMust(t, err)
	mod := t.TempDir()
	itWrite(t, filepath.Join(mod, "go.mod"), "module example.com/app\n\ngo 1.24\n")
	e.goExpect(goBin, mod, "", "", 0, "mod", "edit", "-tool", "example.com/app/tools/procdog")
	goMod, err := os.ReadFile(filepath.Join(mod, "go.mod"))
	if err != nil || !strings.Contains(string(goMod), "\ntool example.com/app/tools/procdog\n") {
		t.Fatalf("go.mod after go mod edit -tool: %v\n%s", err, goMod)
	}
	root := itGoDir(t, map[string]string{
		"go.mod":                   string(goMod),
		"main.go":                  "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"app\") }\n",
		"tools/procdog/procdog.go": string(src),
		"internal/store/.keep":     "",
	})
	sub := filepath.Join(root, "internal", "store")
	// Both main packages build, each in its own directory.
	e.goExpect(goBin, root, "", "", 0, "build", "./...")
	r := e.goExpect(goBin, root, "running, pid={N}", "", 0, "tool", "procdog", "start", "g", "--command", "sleep 100", "--linger", itWindow)
	e.goExpect(goBin, sub, r.line(), "", 0, "tool", "procdog", "status", "g")
	e.goExpect(goBin, root, "killed, signal=15", "", 0, "tool", "procdog", "stop", "g")
	e.goExpect(goBin, sub, "exited, returncode=-15", "", 5, "tool", "procdog", "status", "g")
}

// TestItStopEndsWhatItStarted: stop signals the process's whole group, with SIGCONT after it, so
// that a stopped process acts on it, and SIGKILL once the stop timeout has passed.
func TestItStopEndsWhatItStarted(t *testing.T) {
	e := itParallel(t)
	r := e.expect("running, pid={N}", "", 0, "start", "g", "--shell", "-c", "sleep 100 & echo $$! > bg.pid; wait", "--linger", "0.2")
	pid, bg := itPid(t, r), itPidFile(e, filepath.Join(e.work, "bg.pid"))
	if pgid, err := syscall.Getpgid(bg); err != nil || pgid != pid {
		t.Fatalf("background child %d: want process group %d, got %d (%v)", bg, pid, pgid, err)
	}
	e.expect("killed, signal=15", "", 0, "stop", "g")
	if itAlive(pid) {
		t.Errorf("the shell %d is alive after stop", pid)
	}
	itDead(t, itSoon, "the shell's background child", bg)

	r = e.expect("running, pid={N}", "", 0, "start", "frozen", "--command", "sleep 100", "--stop-timeout", "60", "--linger", "0.2")
	syscall.Kill(itPid(t, r), syscall.SIGSTOP)
	e.expect("killed, signal=15", "", 0, "stop", "frozen")

	// Ignored signals stay ignored across exec, so sleep ignores TERM too. The stop waits until the shell says it does.
	r = e.expect("running, pid={N}", "", 0, "start", "stubborn", "--command", `sh -c "trap '' TERM; echo ignoring; exec sleep 100"`,
		"--stop-timeout", "0.3", "--linger", "0.2")
	itLogHas(e, "stubborn", "\nignoring\n", 1)
	e.expect("killed, signal=9", "", 0, "stop", "stubborn")
	itDead(t, itSoon, "the stubborn process", itPid(t, r))
}

func TestItConcurrentStartsLeaveExactlyOne(t *testing.T) {
	e := itParallel(t)
	results := make([]itResult, 20)
	itAtOnce(len(results), func(i int) { results[i] = e.run("start", "one", "--command", "sleep 100", "--linger", "0.2") })
	for _, r := range results {
		if r.stdout != results[0].stdout || r.code != 0 || !itMatch("running, pid={N}", r.stdout) {
			t.Fatalf("every start should print the one process's status; got\n%s\nand\n%s", r, results[0])
		}
	}
	if got := len(itStarted(e, "one")); got != 1 {
		t.Fatalf("want exactly one process started, the log says %d:\n%s", got, itLog(e, "one"))
	}
}

// TestItSilentAndFloodingClientsBlockNobody: a connection that sends nothing, or a line without end, is dropped while other clients are served; a crowd of silent ones logs a few lines, not one each.
func TestItSilentAndFloodingClientsBlockNobody(t *testing.T) {
	e := itParallel(t)
	e.expect("running, pid={N}", "", 0, "start", "busy", "--command", "sleep 100", "--linger", "0.2")
	dial := func() net.Conn {
		c, err := net.Dial("unix", e.path("busy", "sock"))
		itMust(t, err)
		t.Cleanup(func() { c.Close() })
		return c
	}
	silent := make([]net.Conn, 50)
	for i := range silent {
		silent[i] = dial()
	}
	flood := dial()
	flooded := make(chan error, 1)
	go func() {
		_, err := flood.Write(bytes.Repeat([]byte("x"), 4<<20))
		flooded <- err
	}()

	// The connections are open and unanswered; others are served anyway.
	e.expect("running, pid={N}", "", 0, "status", "busy")
	if err := <-flooded; err == nil {
		t.Fatalf("the monitor read 4 MiB without a newline instead of dropping the connection")
	}
	for _, c := range silent {
		c.SetReadDeadline(time.Now().Add(itCommandTimeout))
		n, err := c.Read(make([]byte, 1))
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("the monitor kept a silent connection open for %v", itCommandTimeout)
		}
		if err == nil || n != 0 {
			t.Fatalf("a silent connection was answered: n=%d err=%v", n, err)
		}
	}
	if n := strings.Count(itLog(e, "busy"), "dropped a connection"); n < 1 || n > 3 { // a line a second
		t.Errorf("50 silent clients and a flood made %d log lines, want 1 to 3:\n%s", n, itLog(e, "busy"))
	}
	e.expect("running, pid={N}", "", 0, "status", "busy")
}

// TestItRefusesStateFilesItDidNotMake: a state file that is a symbolic link, not a regular file,
// has other names (hard links) or belongs to another user is refused: not written to, nor shown.
func TestItRefusesStateFilesItDidNotMake(t *testing.T) {
	e := itParallel(t)
	precious := filepath.Join(e.work, "precious")
	itWrite(t, precious, "keep me\n")
	refusal := func(name, kind, why string) string {
		return "procdog: error: refusing to use " + e.path(name, kind) + ": " + why
	}
	os.Symlink(precious, e.path("link", "log"))
	os.Symlink(precious, e.path("socklink", "sock"))
	e.expect("", refusal("link", "log", "it is a symbolic link"), 3, "start", "link", "--command", "sleep 100")
	e.expect("", refusal("link", "log", "it is a symbolic link"), 3, "logs", "link")
	e.expect("", refusal("socklink", "sock", "it is a symbolic link"), 3, "status", "socklink")

	itMust(t, syscall.Mkfifo(e.path("fifo", "log"), 0o600))
	t.Cleanup(func() { os.Remove(e.path("fifo", "log")) }) // before the cleanup reads the logs
	e.expect("", refusal("fifo", "log", "it is not a regular file"), 3, "start", "fifo", "--command", "sleep 100")
	e.expect("", refusal("fifo", "log", "it is not a regular file"), 3, "logs", "fifo")
	if err := os.Link(precious, e.path("linked", "lock")); err == nil {
		e.expect("error: refusing to use "+e.path("linked", "lock")+": it has other names (hard links)", "", 2,
			"start", "linked", "--command", "sleep 100")
	}
	if b, _ := os.ReadFile(precious); string(b) != "keep me\n" {
		t.Fatalf("a file linked into the state directory was written to: %q", b)
	}

	// Making another user's file takes root.
	theirs := e.path("theirs", "log")
	itWrite(t, theirs, "their log\n")
	if os.Getuid() != 0 || os.Chown(theirs, 65534, 65534) != nil {
		return
	}
	e.expect("", refusal("theirs", "log", "it belongs to another user (uid 65534)"), 3, "start", "theirs", "--command", "sleep 100")
	if b, _ := os.ReadFile(theirs); string(b) != "their log\n" {
		t.Fatalf("another user's log was written to: %q", b)
	}
}

// TestItLingeringMonitorKeepsItsHandsOffTheNewSocket: a lingering name is not running, so start
// starts it afresh, --strict or not; the new monitor takes the name, and the old one, told to end
// by SIGTERM while it lingers, ends at once, as after its linger, leaving the new socket alone.
func TestItLingeringMonitorKeepsItsHandsOffTheNewSocket(t *testing.T) {
	e := itParallel(t)
	e.expect("exited, returncode=0", "", 5, "start", "again", "--command", "true", "--linger", "3600", "--settle", "10")
	old := e.monitorPid("again")
	e.expect("running, pid={N}", "", 0, "start", "again", "--command", "sleep 100", "--linger", "0.2", "--strict")
	syscall.Kill(old, syscall.SIGTERM)
	itDead(t, itSoon, "the old monitor, told to end while it lingers", old)
	e.expect("running, pid={N}", "", 0, "status", "again")
}

// TestItSoak runs start/status/stop cycles on several names from several clients at once, checks
// every answer, and that nothing is left behind.
func TestItSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("soak test")
	}
	e := itParallel(t)
	const names, clients, cycles = 3, 3, 5
	valid := map[string][]string{
		"start":  {"running, pid={N}"},
		"status": {"running, pid={N}", "exited, returncode=-15", "stopped"},
		"stop":   {"killed, signal=15", "exited, returncode=-15", "stopped"},
	}
	var mu sync.Mutex
	var wrong []string
	itAtOnce(names*clients, func(i int) {
		for range cycles {
			for _, cmd := range []string{"start", "status", "stop"} {
				r := e.run(cmd, fmt.Sprintf("soak%d", i%names), "--command", "sleep 100", "--linger", "0.1", "--settle", "0")
				if !slices.ContainsFunc(valid[cmd], func(w string) bool { return itMatch(w, r.stdout) }) {
					mu.Lock()
					wrong = append(wrong, r.String())
					mu.Unlock()
				}
			}
		}
	})
	if len(wrong) > 0 {
		t.Fatalf("%d wrong answers, the first:\n%s", len(wrong), wrong[0])
	}
	itEventually(t, itWindowWait, "all state files gone", func() (bool, string) {
		files := e.stateFiles()
		return len(files) == 0, fmt.Sprint(files)
	})
	pids := e.monitorPids()
	e.mu.Lock()
	pids = append(pids, slices.Collect(maps.Keys(e.pids))...)
	e.mu.Unlock()
	for _, pid := range pids {
		itDead(t, itSoon, "a soak process or monitor", pid)
	}
}

// TestItStartOfARunningNameSaysWhatItKept: a start that finds NAME running answers as before and says on
// stderr which of its options the process lacks; the same options, from any directory, say nothing.
func TestItStartOfARunningNameSaysWhatItKept(t *testing.T) {
	e, cfg := itParallel(t), filepath.Join(t.TempDir(), "procdog.cfg")
	itWrite(t, cfg, "[w]\ncommand=sleep 100\nlinger=0.2\n[v]\ncommand=sleep 100\nlinger=0.2\n")
	warning := "procdog: warning: 'w' is already running with other options (%s); 'procdog restart w' with them applies them"
	r := e.expect("running, pid={N}", "", 0, "start", "w", "--config", cfg)
	e.expectIn(e.home, r.line(), "", 0, "start", "w", "--config", cfg, "--ensure-healthy", "--settle", "1")
	e.expect(r.line(), fmt.Sprintf(warning, "command, dir, health_url"), 0, "start", "w", "--config", cfg, "-c", "sleep 200", "--health-url", "http://127.0.0.1:1/", "--ensure-healthy")
	e.expectIn(e.home, "w: "+r.line()+"\nv: running, pid={N}", fmt.Sprintf(warning, "dir, env"), 0, "start", "w", "v", "--config", cfg, "--env", "A=1", "--dir", ".")
	e.expect("", "procdog: error: process 'w' is already running", 4, "start", "w", "--strict", "--linger", "1", "--config", cfg)
	e.expect("v: killed, signal=15\nw: killed, signal=15", "", 0, "stop", "w", "v")
}

// TestItRestart: restart stops NAME and starts it again with the options its monitor had, those
// given to restart winning; with no monitor, it starts NAME with the options given.
func TestItRestart(t *testing.T) {
	e := itParallel(t)
	r := e.expect("running, pid={N}", "", 0, "start", "r", "-c", "sleep 100", "--stop-signal", "USR1", "--linger", "0.2")
	old := itPid(t, r)
	// --strict fails only when the name is running after the stop.
	again := e.expect("running, pid={N}", "", 0, "restart", "r", "--strict")
	if itPid(t, again) == old {
		t.Fatalf("restart: want a new pid, got the old one: %s", again.line())
	}
	itDead(t, itSoon, "the process before the restart", old)
	e.expect(again.line(), "", 0, "status", "r")
	if started := itStarted(e, "r"); len(started) != 2 || started[1] != itPid(t, again) {
		t.Errorf("want two processes started, the second %d; the log says %v", itPid(t, again), started)
	}
	// The stop signal came from the first monitor too. (Not INT: a shell's background job, such as
	// go test run from a script, ignores it, and so would sleep.)
	e.expect(fmt.Sprintf("killed, signal=%d", int(syscall.SIGUSR1)), "", 0, "stop", "r")

	e.expect("running, pid={N}", "", 0, "start", "o", "-c", "sh -c 'echo hello; exec sleep 100'", "--linger", "0.2")
	e.expect("running, pid={N}", "", 0, "restart", "o", "--stdout", "out", "--stderr", "out")
	itFileLines(t, filepath.Join(e.work, "out"), "HEADER", "hello")
	e.expect("hello", "", 0, "logs", "o", "-n", "1")

	// A health check given to restart replaces the monitor's other kind.
	e.expect("running, health=1, pid={N}", "", 0, "start", "k", "-c", "sleep 100", "--health-command", "false", "--linger", "0.2")
	e.expect("running, health=0, pid={N}", "", 0, "restart", "k", "--health-tcp", itTCPListener(t))

	r = e.expect("running, pid={N}", "", 0, "restart", "n", "-c", "sleep 100", "--linger", "0.2")
	e.expect(r.line(), "", 0, "status", "n")

	// A lingering name is started again with its monitor's options: the settle time, like the
	// command, would come from the monitor.
	e.expect("exited, returncode=3", "", 5, "start", "l", "-c", "sh -c 'test -e again && exec sleep 100; exit 3'",
		"--settle", "10", "--linger", itWindow)
	itWrite(t, filepath.Join(e.work, "again"), "")
	r = e.expect("running, pid={N}", "", 0, "restart", "l", "--settle", "0.1")
	e.expect(r.line(), "", 0, "status", "l")

	// A restart that could not start NAME again stops nothing.
	r = e.expect("running, pid={N}", "", 0, "start", "keep", "--command", "sleep 100", "--linger", "0.2")
	missing := filepath.Join(e.work, "missing")
	e.expect("", usageLine+"\nprocdog: error: Not a directory: "+missing, 2, "restart", "keep", "--dir", missing)
	e.expect("", "procdog: error: Failed to run health command: nope-cmd: executable file not found in $PATH", 2,
		"restart", "keep", "--health-command", "nope-cmd")
	e.expect(r.line(), "", 0, "status", "keep")
}

func TestItList(t *testing.T) {
	t.Parallel()
	t.Run("an empty or missing state directory lists nothing", func(t *testing.T) {
		e := itParallel(t)
		e.expect("", "", 0, "list")
		e.setenv("PROCDOG_DIR", filepath.Join(e.state, "missing"))
		e.expect("", "", 0, "list")
		e.expect("[]", "", 0, "list", "--json")
	})
	t.Run("the names with a monitor, sorted, and with --all every name", func(t *testing.T) {
		e := itParallel(t)
		web := itPid(t, e.expect("running, pid={N}", "", 0, "start", "web", "-c", "sleep 100", "--linger", "0.2"))
		e.expect("exited, returncode=3", "", 5, "start", "db", "-c", "sh -c 'exit 3'", "--settle", "10", "--linger", itWindow)
		e.expect("exited, returncode=0", "", 5, "start", "gone", "-c", "true", "--settle", "10", "--linger", "0.2")
		itGone(t, itWindowWait, e.path("gone", "sock")) // only its log is left
		// Files that are not a name's are none of list's business.
		itWrite(t, filepath.Join(e.state, "notes.txt"), "")
		itWrite(t, filepath.Join(e.state, "procdog.not.a.name.log"), "")
		e.expect(fmt.Sprintf("db: exited, returncode=3\nweb: running, pid=%d", web), "", 0, "list")
		e.expect(fmt.Sprintf("db: exited, returncode=3\ngone: stopped\nweb: running, pid=%d", web), "", 0, "list", "--all")
	})
	t.Run("a name that cannot be asked is an error in its line", func(t *testing.T) {
		e := itParallel(t)
		sock := e.path("evil", "sock")
		itMust(t, os.Symlink(filepath.Join(e.work, "elsewhere"), sock))
		e.expect("evil: error: refusing to use "+sock+": it is a symbolic link", "", 0, "list")
		e.expect(`[{"error":"refusing to use `+sock+`: it is a symbolic link","name":"evil","state":"error"}]`, "", 0, "list", "--json")
	})
}

// TestItLogs: logs prints the last lines of stdout's file (else the monitor log's), then, under a line
// naming it, of stderr's if that is another; with -f what is appended.
func TestItLogs(t *testing.T) {
	e := itParallel(t)
	e.expect("running, pid={N}", "", 0, "start", "s", "--stdout", "s.out", "--stderr", "s.out", "-c", "sh -c 'seq 1 30; exec sleep 100'", "--linger", "0.2")
	itFileLines(t, filepath.Join(e.work, "s.out"), append([]string{"HEADER"}, strings.Split(itSeq(1, 30), "\n")...)...)
	e.expect(itSeq(21, 30), "", 0, "logs", "s")
	e.expect("", "", 0, "logs", "s", "-n", "0")

	e.expect("running, pid={N}", "", 0, "start", "d", "-c", "sh -c 'while [ ! -e go-d ]; do sleep 0.01; done; seq 1 30; exec sleep 100'",
		"--linger", "0.2")
	itWrite(t, filepath.Join(e.work, "go-d"), "")
	itLogHas(e, "d", "\n30\n", 1)
	// logs asks the monitor for its options, and finds no line of that at the end of what it
	// prints.
	e.expect(itSeq(27, 30), "", 0, "logs", "d", "-n", "4")
	e.expect("running, pid={N}", "", 0, "start", "f", "--stdout", "f.out", "--stderr", "f.out",
		"-c", "sh -c 'seq 1 3; while [ ! -e go-f ]; do sleep 0.01; done; echo appended; exec sleep 100'", "--linger", "0.2")
	itFileLines(t, filepath.Join(e.work, "f.out"), "HEADER", "1", "2", "3")
	followed := filepath.Join(e.work, "followed")
	cmd := itFollow(t, e, followed, "logs", "f", "-f", "-n", "2")
	itFileLines(t, followed, "2", "3")
	itWrite(t, filepath.Join(e.work, "go-f"), "")
	itFileLines(t, followed, "2", "3", "appended")
	if err := cmd.Process.Kill(); err != nil {
		t.Fatalf("logs -f ended before it was interrupted: %v", err)
	}

	// With no monitor to ask, the options given say where the output is.
	e.expect("exited, returncode=0", "", 5, "start", "g", "--stdout", "g.out", "-c", "echo bye", "--settle", "10", "--linger", "0.2")
	itGone(t, itWindowWait, e.path("g", "sock"))
	itDead(t, itSoon, "the monitor", e.monitorPid("g"))
	e.expect("bye\n==> "+e.path("g", "log")+" <==\n"+itStamp+" g: monitor exiting", "", 0, "logs", "g", "-n", "1", "--stdout", "g.out")
	e.expect(itStamp+" g: monitor exiting", "", 0, "logs", "g", "-n", "1")
	out, errs := filepath.Join(e.work, "two.out"), filepath.Join(e.work, "two.err")
	e.expect("running, pid={N}", "", 0, "start", "two", "--stdout", "two.out", "--stderr", "two.err", "--linger", "0.2", "-c", "sh -c 'echo out1; echo err1 >&2; until [ -e go1 ]; do sleep 0.01; done; echo out2; until [ -e go2 ]; do sleep 0.01; done; echo err2 >&2; exec sleep 100'")
	itFileLines(t, errs, "HEADER", "err1") // after out1
	e.expect("out1\n==> "+errs+" <==\nerr1", "", 0, "logs", "two", "-n", "1")
	itFollow(t, e, followed+"-two", "logs", "two", "-f", "-n", "1")
	want := []string{"out1", "==> " + errs + " <==", "err1", "==> " + out + " <==", "out2", "==> " + errs + " <==", "err2"}
	itFileLines(t, followed+"-two", want[:3]...)
	itWrite(t, filepath.Join(e.work, "go1"), "")
	itFileLines(t, followed+"-two", want[:5]...)
	itWrite(t, filepath.Join(e.work, "go2"), "")
	itFileLines(t, followed+"-two", want...)
}

// TestItJSON: --json changes how a command prints its answer, and nothing else: errors stay plain
// lines on stderr, and the monitor does not remember it for the next command. (What the JSON of
// each answer holds is TestResponseJSONMatchesEncodingJSON's and the tour's.)
func TestItJSON(t *testing.T) {
	e := itParallel(t)
	e.expect(`{"name":"j","pid":{N},"state":"running"}`, "", 0, "start", "j", "-c", "sleep 100", "--json", "--linger", itWindow)
	e.expect("", "procdog: error: process 'j' is already running", 4, "start", "j", "-c", "sleep 100", "--json", "--strict")
	e.expect("", "procdog: error: process 's' is not running", 5, "stop", "s", "--json", "--strict")
	e.expect("", usageLine+"\nprocdog: error: Must specify --command with 'start' or supply a command in the config file for this id ('u')\n"+
		e.noConfigHint(), 2, "start", "u", "--json")
	e.expect(`{"name":"j","pid":{N},"state":"running"}`, "", 0, "restart", "j", "--json")
	plain := e.expect("running, pid={N}", "", 0, "restart", "j")
	e.expect(`{"name":"j","signal":15,"state":"killed"}`, "", 0, "stop", "j", "--json")
	e.expect(`{"name":"j","returncode":-15,"state":"exited"}`, "", 6, "wait", "j", "--json")
	itDead(t, itSoon, "the stopped process", itPid(t, plain))
}

// TestItReadiness: each kind of check finds a server that becomes ready a while after it
// starts, and start --ensure-healthy with the default options answers healthy. A notify
// socket believes only the process's group, and status --json shows its last STATUS=.
func TestItReadiness(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"tcp", "url", "log", "command", "notify"} {
		t.Run(kind, func(t *testing.T) {
			e := itParallel(t)
			e.expect("running, health=0, pid={N}", "", 0,
				append([]string{"start", "s", "--ensure-healthy"}, itServerArgs(t, e, kind, "300ms")...)...)
			if kind == "notify" {
				e.expect(`{"health":0,"name":"s","notify_status":"serving","pid":{N},"state":"running"}`, "", 0,
					"status", "s", "--json")
			}
		})
	}
	t.Run("systemd-notify", func(t *testing.T) {
		if _, err := exec.LookPath("systemd-notify"); err != nil {
			t.Skip("no systemd-notify here")
		}
		e := itParallel(t)
		e.expect("running, health=0, pid={N}", "", 0, "start", "s", "--health-notify", "--ensure-healthy",
			"--shell", "-c", "sleep 0.2; systemd-notify --ready --status=up; exec sleep 100")
	})
	t.Run("a datagram from outside the process's group is ignored", func(t *testing.T) {
		e := itParallel(t)
		e.expect("running, health=1, pid={N}", "", 0, append([]string{"start", "s"}, itServerArgs(t, e, "status", "0s")...)...)
		conn, err := net.Dial("unixgram", filepath.Join(e.state, "procdog.s.notify"))
		if err == nil {
			_, err = conn.Write([]byte("READY=1"))
		}
		itMust(t, err)
		itWrite(t, filepath.Join(e.work, "up"), "") // the process's STATUS= comes after ours
		itEventually(t, itSoon, "the process's STATUS=", func() (bool, string) {
			r := e.run("status", "s", "--json")
			return strings.Contains(r.stdout, `"notify_status":"serving"`), r.stdout
		})
		e.expect("running, health=1, pid={N}", "", 0, "status", "s")
	})
}

// TestItChecksKeepTheirBounds: wait's own --health-count and --health-delay bound that wait,
// not the monitor's, and a failed wait says why; a pattern that costs much per byte, over
// megabytes of output, makes no check outlast its timeout, and the monitor answers meanwhile.
func TestItChecksKeepTheirBounds(t *testing.T) {
	e := itParallel(t)
	e.expect("running, health=1, pid={N}", "", 0, "start", "h", "-c", "sleep 100", "--health-command", "false",
		"--health-count", "100", "--health-delay", "1")
	e.expect("running, health=1, pid={N}", "", 0, "start", "c", "--shell", "-c",
		"yes 000000000000000000000000000000000000000000000000000000000000 | head -c 4000000; exec sleep 100",
		"--stdout", "out", "--health-log", "(?:0*){999}x", "--health-timeout", "1", "--settle", "0.5")
	within := func(stdout, stderr string, code int, args ...string) {
		began := time.Now()
		if e.expect(stdout, stderr, code, args...); time.Since(began) > 5*time.Second {
			t.Errorf("%q took %v, far beyond its bounds", args, time.Since(began))
		}
	}
	within("running, health=1, pid={N}", "procdog: error: 'h' is not healthy after {N} checks: health command exited with 1",
		6, "wait", "h", "--health-count", "3", "--health-delay", "0.1")
	within("running, health=1, pid={N}", "", 0, "status", "c")
	within("running, health=1, pid={N}", "", 0, "status", "c")
}

// TestItHealthProbesPass: HTTP 302 is healthy, and not followed (to /fail); an IPv6 address is
// probed. (The answers of other probes that pass are the tour's; why one fails is
// TestItHealthFailuresExplainThemselves's.)
func TestItHealthProbesPass(t *testing.T) {
	e := itParallel(t)
	r := e.expect("running, health=0, pid={N}", "", 0, "start", "p", "-c", "sleep 100", "--health-url", itHTTPServer(t).URL+"/redirect",
		"--health-timeout", "10", "--health-count", "2", "--health-delay", "0.05", "--linger", "0.2")
	e.expect(r.line(), "", 0, "wait", "p")
	v6, err := itListen(t, "[::1]:0", "")
	if err != nil {
		t.Skip("no IPv6 loopback here:", err)
	}
	r = e.expect("running, health=0, pid={N}", "", 0, "start", "v6", "--command", "sleep 100",
		"--health-tcp", v6, "--linger", "0.2")
	e.expect(r.line(), "", 0, "status", "v6")
}

// TestItRestartPolicy: --restart restarts a process that exits (always) or fails (on-failure), a
// signal being a failure, until --max-restarts; a stop is for good, whether it finds the process
// running or waiting to be restarted.
func TestItRestartPolicy(t *testing.T) {
	e := itParallel(t)
	e.expect("running, pid={N}", "", 0, "start", "a", "-c", "sleep 0.3", "--restart", "always", "--max-restarts", "100",
		"--restart-delay", "0.05", "--linger", "0.2")
	itEventuallyAnswers(e, itSoon, "running, pid={N}, restarts={N}", 0, "status", "a")
	itExpectOneOf(e, []itWant{{"killed, restarts={N}, signal=15", 0}, {"exited, restarts={N}, returncode=0", 0}}, "stop", "a")
	started := itStarted(e, "a")
	itGone(t, itWindowWait, e.path("a", "sock"))
	if again := itStarted(e, "a"); len(again) != len(started) {
		t.Errorf("runs started after the stop: before %v, after %v", started, again)
	}
	itDead(t, itSoon, "the last run", started[len(started)-1])
	e.expect("stopped", "", 5, "status", "a")

	// A stop during the restart delay.
	itExpectOneOf(e, []itWant{{"exited, returncode=3", 5}, {"exited, restarts={N}, returncode=3", 5}, {"running, pid={N}, restarts={N}", 0}},
		"start", "d", "-c", "sh -c 'exit 3'", "--restart", "on-failure", "--max-restarts", "100", "--restart-delay", "0.3",
		"--settle", "10", "--linger", "0.2")
	itExpectOneOf(e, []itWant{{"exited, returncode=3", 0}, {"exited, restarts={N}, returncode=3", 0}, {"killed, restarts={N}, signal=15", 0}},
		"stop", "d")
	started = itStarted(e, "d")
	itGone(t, itWindowWait, e.path("d", "sock"))
	if again := itStarted(e, "d"); len(again) != len(started) {
		t.Errorf("runs started after the stop: before %v, after %v", started, again)
	}
	e.expect("stopped", "", 5, "status", "d")

	// A process that exits 0 is not restarted by on-failure, nor by always with --max-restarts 0.
	for name, args := range map[string][]string{
		"z":  {"--restart", "on-failure", "--restart-delay", "0.05"},
		"a0": {"--restart", "always", "--max-restarts", "0"},
	} {
		e.expect("exited, returncode=0", "", 5, append([]string{"start", name, "-c", "true", "--settle", "10", "--linger", itWindow}, args...)...)
		itGone(t, itSoon, e.path(name, "lock")) // the monitor has decided: no restart
		e.expect("exited, returncode=0", "", 5, "status", name)
		if started := itStarted(e, name); len(started) != 1 {
			t.Errorf("%s: want one run; the log says %v", name, started)
		}
	}

	r := e.expect("running, pid={N}", "", 0, "start", "k", "-c", "sleep 100", "--restart", "on-failure", "--max-restarts", "1",
		"--restart-delay", "0.05", "--linger", itWindow)
	first := itPid(t, r)
	itExpectOneOf(e, []itWant{{r.line(), 0}, {"exited, returncode=-9", 5}, {"running, pid={N}, restarts=1", 0}}, "signal", "k", "KILL")
	again := itEventuallyAnswers(e, itSoon, "running, pid={N}, restarts=1", 0, "status", "k")
	if second := itPid(t, again); second == first {
		t.Fatalf("want a new pid after the restart, got the old one: %s", again.line())
	}
	itDead(t, itSoon, "the killed process", first)
	e.expect(fmt.Sprintf(`{"name":"k","pid":%d,"restarts":1,"state":"running"}`, itPid(t, again)), "", 0, "status", "k", "--json")
	itExpectOneOf(e, []itWant{{again.line(), 0}, {"exited, restarts=1, returncode=-9", 5}}, "signal", "k", "KILL")
	// A signal to a process that has ended says how it ended.
	itEventuallyAnswers(e, itSoon, "exited, restarts=1, returncode=-9", 5, "signal", "k", "HUP")
	itGone(t, itSoon, e.path("k", "lock"))
	if started := itStarted(e, "k"); len(started) != 2 {
		t.Errorf("want two runs; the log says %v", started)
	}

	// A start while a restart is pending reports the restarted process: the monitor still owns the
	// name. The first run fails and makes ok itself, so that the restart runs on however soon it
	// comes: the test need not beat the delay to it.
	e.expect("exited, returncode=3", "", 5, "start", "p", "-c", "sh -c 'test -e ok && exec sleep 100; touch ok; exit 3'",
		"--restart", "on-failure", "--restart-delay", "0.5", "--settle", "10", "--linger", "0.2")
	r = e.expect("running, pid={N}, restarts=1", "procdog: warning: 'p' is already running with other options (command); 'procdog restart p' with them applies them", 0, "start", "p", "-c", "sleep 100")
	if started := itStarted(e, "p"); len(started) != 2 || started[1] != itPid(t, r) {
		t.Errorf("want the restarted process %d and no other; the log says %v", itPid(t, r), started)
	}
	e.expect("killed, restarts=1, signal=15", "", 0, "stop", "p")

	// A restarted process reads its input from the start.
	itWrite(t, filepath.Join(e.work, "in"), "hello\n")
	e.run("start", "in", "--command", "sh -c 'cat; exit 1'", "--stdin", "in", "--stdout", "in.out",
		"--restart", "on-failure", "--max-restarts", "1", "--restart-delay", "0.01", "--linger", "0.2")
	itFileLines(t, filepath.Join(e.work, "in.out"), "HEADER", "hello", "hello")
}

// TestItProcessRunsAsWritten: the process starts in --dir with PWD saying so, as os/exec set it
// before procdog forked by itself, and a command with a slash is found relative to that directory;
// its argv[0] is the command's first word as the user wrote it, not the path procdog found it at,
// so that ps shows it as written and multi-call programs know their name.
func TestItProcessRunsAsWritten(t *testing.T) {
	e := itParallel(t)
	sub := filepath.Join(e.work, "sub")
	itMust(t, os.Mkdir(sub, 0o755))
	itWrite(t, filepath.Join(sub, "show.sh"), "#!/bin/sh\necho here=$(pwd -P)\nenv\n")
	itMust(t, os.Chmod(filepath.Join(sub, "show.sh"), 0o755))
	e.setenv("PWD", "/somewhere/else")
	e.expect("exited, returncode=0", "", 5, "start", "show", "--command", "./show.sh", "--dir", "sub",
		"--settle", "10", "--linger", "0.2")
	real, err := filepath.EvalSymlinks(sub)
	itMust(t, err)
	log := itLog(e, "show")
	for _, want := range []string{"\nhere=" + real + "\n", "\nPWD=" + sub + "\n"} {
		if !strings.Contains(log, want) {
			t.Errorf("the log lacks %q:\n%s", want, log)
		}
	}
	if strings.Contains(log, "/somewhere/else") {
		t.Errorf("the process kept the client's PWD:\n%s", log)
	}
	// A directory that has gone is named as the reason that a health command cannot run.
	e.expect("running, health=0, pid={N}", "", 0, "start", "gone", "--command", "sleep 100",
		"--dir", "sub", "--health-command", "true", "--linger", "0.2")
	itMust(t, os.RemoveAll(sub))
	e.expect("error: Failed to run health command: directory "+sub+" is gone", "", 2, "status", "gone")
	if itNoProc() {
		return
	}
	e.expect("exited, returncode=0", "", 5, "start", "argv", "--command", "cat /proc/self/cmdline",
		"--settle", "10", "--linger", "0.2")
	if log := itLog(e, "argv"); !strings.Contains(log, "\ncat\x00/proc/self/cmdline\x00") {
		t.Errorf("want the process's command line to be cat /proc/self/cmdline; the log:\n%q", log)
	}
}

// Shared machines and faults: what a hostile user on the same machine, or bad luck, can do to
// procdog, and what it must not achieve.

func TestItBelievesOnlyAMonitorOfItsOwnUser(t *testing.T) {
	e := itParallel(t)
	sock := e.path("web", "sock")
	pwned := filepath.Join(e.work, "pwned")
	// The socket file is ours, as it is when another user swaps it in between our check of the file
	// and our connect; its listener is not.
	itListenAs(t, 65534, sock, strconv.Quote("--command=sleep 100")+" "+strconv.Quote("--health-command=touch "+pwned))
	refusal := "procdog: error: refusing to talk to " + sock + ": it is served by another user (uid 65534)"
	e.expect("", refusal, 3, "status", "web")
	e.expect("", refusal, 3, "restart", "web")
	e.expect("", refusal, 3, "stop", "web")
	if itExists(pwned) {
		t.Fatal("procdog ran a health command that another user's socket gave it")
	}
}

// TestItConfigFile: procdog.cfg is found in the nearest directory above that has one, and a
// relative dir in it is relative to it; a config file that others could have written is refused.
func TestItConfigFile(t *testing.T) {
	e := itParallel(t)
	cfg := filepath.Join(e.work, "procdog.cfg")
	itWrite(t, cfg, "[up]\ncommand=sleep 100\ndir=srv\nlinger=0.2\n"+
		"[here]\ncommand=sleep 100\nstdout=here.out\nlinger=0.2\n[given]\ncommand=sleep 100\nlinger=0.2\n")
	below := filepath.Join(e.work, "pkg", "deeper")
	for _, d := range []string{below, filepath.Join(e.work, "srv")} {
		itMust(t, os.MkdirAll(d, 0o755))
	}
	// A section runs in its file's directory, or its dir; a command from the command line, here.
	for want, args := range map[string][]string{filepath.Join(e.work, "srv"): {"up"}, e.work: {"here"}, below: {"given", "-c", "sleep 9"}} {
		r := e.expectIn(below, "running, pid={N}", "", 0, append([]string{"start"}, args...)...)
		if cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", itPid(t, r))); err == nil && cwd != want {
			t.Errorf("start %q from %s: the process runs in %s, want %s", args, below, cwd, want)
		}
		e.expectIn(below, "killed, signal=15", "", 0, "stop", args[0])
	}
	itFileLines(t, filepath.Join(e.work, "here.out"), "HEADER") // a relative stdout is there too
	itWrite(t, cfg, "[x]\nhealth_command=touch pwned\n")
	itMust(t, os.Chmod(cfg, 0o666))
	e.expect("", "procdog: error: refusing to read config file procdog.cfg: other users may write to it", 3, "status", "x")
	os.Remove(cfg)
	itMust(t, syscall.Mkfifo(cfg, 0o600))
	e.expect("", "procdog: error: refusing to read config file procdog.cfg: it is not a regular file", 3, "status", "x")
	e.expect("", "procdog: error: refusing to read config file /dev/zero: it is not a regular file", 3,
		"status", "x", "--config", "/dev/zero")
	os.Remove(cfg)
	itWrite(t, cfg, "[x]\nhealth_command=touch pwned\n")
	if os.Getuid() == 0 && os.Chown(cfg, 65534, 65534) == nil {
		e.expect("", "procdog: error: refusing to read config file procdog.cfg: it belongs to another user (uid 65534)", 3,
			"status", "x")
	}
	// A link is judged with its directory, and a relative dir is the directory of the file it names.
	real, links, refused := filepath.Join(e.work, "real"), filepath.Join(e.work, "links"), "procdog: error: refusing to read config file procdog.cfg: "
	itMust(t, errors.Join(os.Mkdir(real, 0o755), os.Mkdir(links, 0o755), os.Symlink("../real/procdog.cfg", filepath.Join(links, "procdog.cfg"))))
	itWrite(t, filepath.Join(real, "procdog.cfg"), "[x]\ncommand=sleep 100\ndir=.\n")
	if r := e.runIn(links, "export", "systemd", "x"); !strings.Contains(r.stdout, "\nWorkingDirectory="+real+"\n") {
		t.Errorf("a relative dir in a config file read through a link: want WorkingDirectory=%s in\n%s", real, r)
	}
	itMust(t, errors.Join(os.Chmod(filepath.Join(real, "procdog.cfg"), 0o664), os.Chmod(links, 0o775)))
	e.expectIn(real, "", refused+"other users may write to it", 3, "status", "x")
	e.expectIn(links, "", refused+"other users may write to the directory of the symbolic link procdog.cfg", 3, "status", "x")
	if os.Getuid() == 0 && os.Chmod(links, 0o755) == nil && os.Lchown(filepath.Join(links, "procdog.cfg"), 65534, 65534) == nil {
		e.expectIn(links, "", refused+"the symbolic link procdog.cfg belongs to another user (uid 65534)", 3, "status", "x")
	}
}

// TestItGivesUpOnAWedgedMonitorWhichThenIgnoresTheRequest: a monitor that cannot answer (here
// stopped with SIGSTOP) makes a client give up with exit 3, not hang; once it can answer again, it
// does not act on the request of the client that has gone. The client gives up after a liveness
// interval and a probe deadline, 8 s.
func TestItGivesUpOnAWedgedMonitorWhichThenIgnoresTheRequest(t *testing.T) {
	e := itParallel(t)
	r := e.expect("running, pid={N}", "", 0, "start", "late", "--command", "sleep 100", "--linger", "0.2")
	monitor := e.monitorPid("late")
	syscall.Kill(monitor, syscall.SIGSTOP)
	stopped := e.run("stop", "late")
	syscall.Kill(monitor, syscall.SIGCONT)
	if stopped.code != 3 || stopped.stdout != "" || !strings.Contains(stopped.stderr, "procdog: error: the monitor of 'late' does not answer") {
		t.Fatalf("stop of a stopped monitor: want exit 3 and an error naming it; got\n%s", stopped)
	}
	itLogHas(e, "late", `request "stop": not acted on, its client has gone`, 1)
	e.expect(r.line(), "", 0, "status", "late")
}

// TestItAnswersARequestInFlightWithTheStateAfterItsHealthCheck: status runs the health check and
// answers with the state after it. Here the check makes the process exit, and takes longer than the
// linger that follows, so the linger ends while a request is in flight, which is answered all the
// same; and longer than the client's liveness interval (3 s), so the client checks on the monitor
// while it is closing, and waits on.
func TestItAnswersARequestInFlightWithTheStateAfterItsHealthCheck(t *testing.T) {
	e := itParallel(t)
	e.expect("running, health=0, pid={N}", "", 0, "start", "slow", "--command", "sh -c 'until test -e exit; do sleep 0.01; done'",
		"--health-command", "sh -c 'test -e slow || exit 0; touch exit; sleep 4'", "--linger", "0.2")
	itWrite(t, filepath.Join(e.work, "slow"), "")
	e.expect("exited, health=0, returncode=0", "", 5, "status", "slow")
	if log := itLog(e, "slow"); !strings.Contains(log, "process exited: returncode=0") {
		t.Fatalf("the exit is not in the log:\n%s", log)
	}
	e.expect("stopped", "", 5, "status", "slow")
}

// TestItEndsWhatIsLeftBehind: what the process or a health command leaves running in its group when
// it exits.
func TestItEndsWhatIsLeftBehind(t *testing.T) {
	e := itParallel(t)
	e.expect("exited, returncode=0", "", 5, "start", "bg", "--shell", "--command",
		"sleep 100 & echo $$! > bg.pid; exit 0", "--stop-timeout", "2", "--linger", itWindow, "--settle", "10")
	itDead(t, itSoon, "the process's background child", itPidFile(e, filepath.Join(e.work, "bg.pid")))
	itLogHas(e, "bg", "outlived its leader", 1)
	e.expect("running, health=0, pid={N}", "", 0, "start", "hc", "--command", "sleep 100",
		"--health-command", `sh -c 'sleep 100 & echo $$! > left.pid'`, "--linger", "0.2")
	itDead(t, itSoon, "what the health command left running", itPidFile(e, filepath.Join(e.work, "left.pid")))
}

// TestItPutsBackARemovedSocketAndLock: the monitor checks for them every healInterval (3 s).
func TestItPutsBackARemovedSocketAndLock(t *testing.T) {
	e := itParallel(t)
	start := append([]string{"start", "heal", "--linger", "0.2"}, itServerArgs(t, e, "status", "0s")...)
	r := e.expect("running, health=1, pid={N}", "", 0, start...)
	for _, kind := range []string{"sock", "lock", "notify"} {
		os.Remove(e.path("heal", kind))
	}
	itEventually(t, 4*healInterval, "the sockets and lock file to come back", func() (bool, string) {
		return itExists(e.path("heal", "sock")) && itExists(e.path("heal", "lock")) && itExists(e.path("heal", "notify")), strings.Join(e.stateFiles(), " ")
	})
	itWrite(t, filepath.Join(e.work, "up"), "") // the process sends STATUS=serving to the notify socket put back
	itEventually(t, itSoon, "the process's STATUS=", func() (bool, string) {
		out := e.run("status", "heal", "--json").stdout
		return strings.Contains(out, `"notify_status":"serving"`), out
	})
	e.expect(r.line(), "", 0, start...)
	if n := len(itStarted(e, "heal")); n != 1 {
		t.Fatalf("%d processes were started, want 1", n)
	}
	itMust(t, os.RemoveAll(e.state))
	itEventually(t, 10*time.Second, "the state directory, owner-only, its socket and lock file to come back", func() (bool, string) {
		fi, err := os.Stat(e.state)
		return err == nil && fi.Mode().Perm() == 0o700 && itExists(e.path("heal", "sock")) && itExists(e.path("heal", "lock")), fmt.Sprint(fi, err, e.stateFiles())
	})
	e.expect(r.line(), "", 0, "status", "heal")
}

// TestItCountsAZombieAsGone: a stop, of an orphan or of what is left of a group, does not wait for
// a zombie that a subreaper never reaps: this test's process, which, not parallel, gets only its own.
func TestItCountsAZombieAsGone(t *testing.T) {
	prctl := map[string]uintptr{"amd64": 157, "arm64": 167, "riscv64": 167}[runtime.GOARCH] // SYS_PRCTL
	if runtime.GOOS != "linux" || prctl == 0 {
		t.Skip("needs Linux's PR_SET_CHILD_SUBREAPER")
	}
	syscall.RawSyscall(prctl, 36, 1, 0) // PR_SET_CHILD_SUBREAPER, until the test ends
	defer syscall.RawSyscall(prctl, 36, 0, 0)
	e := itNew(t)
	e.expect("running, pid={N}", "", 0, "start", "orphan", "--command", "sleep 100")
	syscall.Kill(e.monitorPid("orphan"), syscall.SIGKILL)
	itDead(t, itSoon, "the killed monitor", e.monitorPid("orphan"))
	e.expect("running, pid={N}", "", 0, "start", "left", "--shell", "--command", "sleep 100 & exec sleep 100", "--linger", "0")
	begin := time.Now()
	e.expect("killed, signal=15", "", 0, "stop", "orphan", "--stop-timeout", "5")
	e.expect("killed, signal=15", "", 0, "stop", "left", "--stop-timeout", "5")
	if itGone(t, itSoon, e.path("left", "sock")); time.Since(begin) > 4*time.Second {
		t.Fatalf("stops took %v: they waited for zombies", time.Since(begin))
	}
}

// Orphans: a process whose monitor was killed is found again.

// TestItFindsAnOrphanAgain. An orphan's stop waits, up to the stop timeout, until its process
// group has none but zombies, which only /proc tells: elsewhere, the stops' short stop timeout.
func TestItFindsAnOrphanAgain(t *testing.T) {
	e := itParallel(t)
	r := e.expect("running, pid={N}", "", 0, "start", "orphan", "--command", "sleep 100")
	pid := itPid(t, r)
	monitor := e.monitorPid("orphan")
	syscall.Kill(monitor, syscall.SIGKILL)
	itDead(t, itSoon, "the killed monitor", monitor)
	orphaned := fmt.Sprintf("running, orphaned=1, pid=%d", pid)
	e.expect(orphaned, "", 0, "status", "orphan")
	e.expect(fmt.Sprintf(`{"name":"orphan","orphaned":true,"pid":%d,"state":"running"}`, pid), "", 0, "status", "orphan", "--json")
	e.expect("orphan: "+orphaned, "", 0, "list")
	e.expect(orphaned, "", 0, "start", "orphan", "--command", "sleep 100")
	e.expect("", "procdog: error: process 'orphan' is already running", 4,
		"start", "orphan", "--command", "sleep 100", "--strict")
	if n := len(itStarted(e, "orphan")); n != 1 {
		t.Fatalf("%d processes were started, want 1", n)
	}
	e.expect("killed, signal=15", "", 0, "stop", "orphan", "--stop-timeout", "0.3")
	itDead(t, itSoon, "the stopped orphan", pid)
	e.expect("stopped", "", 5, "status", "orphan")

	// restart stops an orphan and starts afresh.
	r = e.expect("running, pid={N}", "", 0, "start", "again", "--command", "sleep 100")
	monitor = e.monitorPid("again")
	syscall.Kill(monitor, syscall.SIGKILL)
	itDead(t, itSoon, "the killed monitor", monitor)
	r2 := e.expect("running, pid={N}", "", 0, "restart", "again", "--command", "sleep 100", "--stop-timeout", "0.3", "--linger", "0.2")
	itDead(t, itSoon, "the restarted orphan", itPid(t, r))
	if itPid(t, r2) == itPid(t, r) {
		t.Fatal("restart of an orphan did not start afresh")
	}

	// Both die, as when the machine runs out of memory: nothing is left.
	child := itPid(t, e.expect("running, pid={N}", "", 0, "start", "crash", "--command", "sleep 100", "--linger", "0.2"))
	monitor = e.monitorPid("crash")
	syscall.Kill(monitor, syscall.SIGKILL)
	syscall.Kill(child, syscall.SIGKILL)
	itDead(t, itSoon, "the killed monitor", monitor)
	itDead(t, itSoon, "the killed process", child)
	e.expect("stopped", "", 5, "status", "crash")
	if r := e.expect("running, pid={N}", "", 0, "start", "crash", "--command", "sleep 100", "--strict", "--linger", "0.2"); itPid(t, r) == child {
		t.Fatalf("start after a crash reported the old child %d", child)
	}

	// A stop ends all of an orphan's group, with SIGKILL after the stop timeout.
	r = e.expect("running, pid={N}", "", 0, "start", "g", "--shell", "--command",
		"(trap '' TERM; exec sleep 100) & echo $$! > member.pid; exec sleep 100")
	member := itPidFile(e, filepath.Join(e.work, "member.pid"))
	monitor = e.monitorPid("g")
	syscall.Kill(monitor, syscall.SIGKILL)
	itDead(t, itSoon, "the killed monitor", monitor)
	e.expect("killed, signal=15", "", 0, "stop", "g", "--stop-timeout", "0.3")
	itDead(t, itSoon, "the orphan", itPid(t, r))
	itDead(t, itSoon, "the member of its group that ignores SIGTERM", member)

	// A lock file that names a process which is not the one procdog started is no orphan of NAME's:
	// neither a process of ours that got the pid but started at another time, nor one that leads no
	// process group (pid 1, with its true start time: kill(-1) would reach every process).
	other := exec.Command("sleep", "100")
	other.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // it leads a group, as an orphan does
	itMust(t, other.Start())
	defer other.Wait()
	defer other.Process.Kill()
	// Its start time is to the clock tick: a pid reused within one has the orphan's, not its session.
	started := processStart(other.Process.Pid)
	for _, record := range []string{"start=1", "start=" + started, fmt.Sprintf("start=%s sid=%d", started, sessionOf(other.Process.Pid)+1)} {
		itWrite(t, e.path("reused", "lock"), fmt.Sprintf("pid=%d %s\n", other.Process.Pid, record))
		os.Chmod(e.path("reused", "lock"), 0o600)
		e.expect("stopped", "", 5, "status", "reused")
	}
	e.expect("running, pid={N}", "", 0, "start", "reused", "--command", "sleep 100", "--linger", "0.2")
	e.expect("killed, signal=15", "", 0, "stop", "reused")
	if !itAlive(other.Process.Pid) {
		t.Fatal("stop ended the unrelated process that had the recorded pid")
	}
	if itNoProc() {
		return
	}
	itWrite(t, e.path("init", "lock"), fmt.Sprintf("pid=1 start=%d\n", itStat(1, 22)))
	os.Chmod(e.path("init", "lock"), 0o600)
	e.expect("stopped", "", 5, "status", "init")
	e.expect("stopped", "", 0, "stop", "init")
}

// Readiness by log line, and the process's environment.

func TestItHealthLog(t *testing.T) {
	for _, tc := range []struct{ name, command, pattern string }{
		// The line is written in two pieces, a while apart, after an unhealthy first check: only
		// the whole line matches.
		{"healthy once a line matches, even one written in pieces",
			"echo starting; while [ ! -e go ]; do sleep 0.01; done; printf 'rea'; sleep 0.3; printf 'dy on 5\\n'; exec sleep 100",
			`^ready on \d+$`},
		// The first check's log line lands in the middle of the process's.
		{"a line that the monitor's own line cut in two is joined again",
			"printf Serv; while [ ! -e go ]; do sleep 0.01; done; printf 'ing HTTP\\n'; exec sleep 100", "^Serving HTTP"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := itParallel(t)
			e.expect("running, health=1, pid={N}", "", 0, "start", "h", "--shell", "--command", tc.command,
				"--health-log", tc.pattern, "--health-delay", "0.05", "--health-count", "1000", "--linger", "0.2")
			itWrite(t, filepath.Join(e.work, "go"), "")
			e.expect("running, health=0, pid={N}", "", 0, "wait", "h")
		})
	}
	t.Run("reads the --stdout file, and starts over with each run", func(t *testing.T) {
		e := itParallel(t)
		itWrite(t, filepath.Join(e.work, "procdog.cfg"), "[svc]\ncommand=sh -c 'echo up; exec sleep 100'\nstdout=out\nhealth_log=^up$\nlinger=0.2\n")
		e.run("start", "svc", "--health-delay", "0.05", "--health-count", "1000")
		e.expect("running, health=0, pid={N}", "", 0, "wait", "svc")
		e.expect("running, health=1, pid={N}", "", 0, "restart", "svc", "--command", "sleep 100")
	})
	t.Run("the monitor's own lines do not count", func(t *testing.T) {
		e := itParallel(t)
		e.expect("running, health=1, pid={N}", "", 0, "start", "own", "--command", "sleep 100", "--health-log", "listening|request|started", "--linger", "0.2")
		e.expect("running, health=1, pid={N}", "", 0, "status", "own")
	})
}

// TestItEnv: --env and the env key of a config file set the process's variables and its health
// command's, with $VAR expanded and quotes kept; --env wins, and a restart keeps them all, with
// those given to it winning.
func TestItEnv(t *testing.T) {
	e := itParallel(t)
	e.setenv("IT_HOME_DIR", "/home/it")
	e.setenv("IT_Q", "it's")
	itWrite(t, filepath.Join(e.work, "procdog.cfg"),
		"[env]\nenv = A=1 'B=two words'\n  C=$IT_HOME_DIR/bin\nstdout = out\nshell = true\nlinger = 0.2\n"+
			"command = echo \"A=$$A B=$$B C=$$C D=$$D\"; exec sleep 100\n")
	e.expect("running, health=0, pid={N}", "", 0, "start", "env", "--env", "D=$IT_Q", "--env", "A=one",
		"--health-command", `sh -c 'test "$$D" = "it'"'"'s"'`)
	itFileLines(t, filepath.Join(e.work, "out"), "HEADER", "A=one B=two words C=/home/it/bin D=it's")
	e.expect("running, health=0, pid={N}", "", 0, "restart", "env", "--env", "A=again")
	itFileLines(t, filepath.Join(e.work, "out"), "HEADER", "A=again B=two words C=/home/it/bin D=it's")
	if shown := e.run("show", "env"); !strings.Contains(shown.stdout, "\nenv=A=again 'B=two words' C=/home/it/bin 'D=it'\\''s'\n") {
		t.Errorf("after restart --env A=again: want one A, and the others kept; got\n%s", shown)
	}

	// The monitor runs with GOMAXPROCS=1 to save memory, but the process gets the user's setting.
	// (--settle 0 answers running at once.)
	for _, c := range []struct{ name, env, want string }{
		{"unset", "", "G=unset P=unset"},
		{"set", "7", "G=7 P=unset"},
	} {
		if c.env != "" {
			e.setenv("GOMAXPROCS", c.env)
		}
		e.expect("running, pid={N}", "", 0, "start", c.name, "--settle", "0", "--linger", "0.2",
			"--command", `sh -c 'echo G=$${GOMAXPROCS-unset} P=$${PROCDOG_GOMAXPROCS-unset}; exec sleep 100'`)
		itLogHas(e, c.name, "\n"+c.want+"\n", 1)
	}
}

func TestItShowPrintsWhatAConfigFileCanTakeBack(t *testing.T) {
	e := itParallel(t)
	e.expect("running, pid={N}", "", 0, "start", "shown", "--shell", "--command", "exec sleep 100 # with 'quotes' and $$dollars",
		"--env", "A=two words", "--health-delay", "0.5", "--restart", "always", "--linger", "0.2")
	shown := e.run("show", "shown")
	want := "command=exec sleep 100 # with 'quotes' and $$dollars\nhealth_delay=0.5\ndir=" + e.work + "\nlinger=0.2\nshell=true\nrestart=always\nenv='A=two words'\n"
	if shown.stdout != want || shown.code != 0 {
		t.Fatalf("show: want\n%s\ngot\n%s", want, shown)
	}
	e.expect(`{"name":"shown","command":"exec sleep 100 # with 'quotes' and $dollars","health_delay":0.5,"dir":"`+e.work+
		`","linger":0.2,"shell":true,"restart":"always","env":"'A=two words'"}`, "", 0, "show", "shown", "--json")
	e.expect("killed, signal=15", "", 0, "stop", "shown")
	itEventuallyAnswers(e, itSoon, "stopped", 5, "status", "shown")
	e.expect("stopped", "", 5, "show", "shown")

	// What show printed, as a config section, starts the same process.
	itWrite(t, filepath.Join(e.work, "procdog.cfg"), "[shown]\n"+shown.stdout)
	e.expect("running, pid={N}", "", 0, "start", "shown")
	e.expect(strings.TrimSuffix(want, "\n"), "", 0, "show", "shown")
}

func TestItSeveralNames(t *testing.T) {
	e := itParallel(t)
	itWrite(t, filepath.Join(e.work, "procdog.cfg"), `[db]
command = sh -c 'sleep 0.3; touch db.ready; exec sleep 100'
health_command = test -e db.ready
health_delay = 0.05
health_count = 1000
linger = 0.2
[web]
command = sh -c 'test -e db.ready && exec sleep 100'
linger = 0.2
`)
	// web exits at once unless db is ready when it starts.
	e.expect("db: running, health=0, pid={N}\nweb: running, pid={N}", "", 0, "start", "db", "web", "--ensure-healthy")
	e.expect(`{"name":"web","pid":{N},"state":"running"}`+"\n"+`{"name":"nope","state":"stopped"}`+"\n"+
		`{"health":0,"name":"db","pid":{N},"state":"running"}`, "", 5, "status", "web", "nope", "db", "--json")
	// The first failure ends a start: later names are not started.
	e.expect("fresh: running, pid={N}", "procdog: error: process 'web' is already running", 4,
		"start", "fresh", "web", "later", "--command", "sleep 100", "--strict", "--linger", "0.2")
	e.expect("later: stopped\nfresh: running, pid={N}", "", 5, "status", "later", "fresh")
	e.expect("fresh: killed, signal=15\nweb: killed, signal=15\ndb: killed, signal=15", "", 0, "stop", "db", "web", "fresh")
	e.expect("", usageLine+"\nprocdog: error: Invalid process name 'b@d'; must be alphanumeric, with only underscores or dashes", 2,
		"stop", "db", "b@d")
}

func TestItHealthFailuresExplainThemselves(t *testing.T) {
	t.Parallel()
	srv := itHTTPServer(t)
	closed := itClosedAddr(t)
	// A server whose status line is 8 KiB long: one that would send that could as well send a
	// gigabyte, and only a status line's worth is read.
	bigAddr, err := itListen(t, "127.0.0.1:0", "HTTP/1.0 200 "+strings.Repeat("x", 8<<10)+"\r\n\r\n")
	itMust(t, err)
	big := "http://" + bigAddr + "/"
	tests := []struct {
		name   string
		health []string
		why    string
		code   int
	}{
		{"a refused TCP connection", []string{"--health-tcp", closed}, "connect " + closed + ": connection refused", 1},
		{"a refused HTTP connection", []string{"--health-url", "http://" + closed + "/"}, "connect " + closed + ": connection refused", 1},
		{"an HTTP error status", []string{"--health-url", srv.URL + "/fail"}, "GET " + srv.URL + "/fail: HTTP status 500 Internal Server Error", 1},
		{"a URL that does not answer in time", []string{"--health-url", srv.URL + "/slow", "--health-timeout", "0.3"},
			"GET " + srv.URL + "/slow: no HTTP status line: no answer within 300ms", 1},
		{"a status line too long to read", []string{"--health-url", big}, "GET " + big + ": no HTTP status line: EOF", 1},
		{"a command's exit code and last stderr line", []string{"--health-command", "sh -c 'echo starting >&2; echo not ready yet >&2; exit 3'"},
			"health command exited with 3: not ready yet", 3},
		{"a command killed for its time", []string{"--health-command", "sh -c 'echo waiting >&2; exec sleep 100'", "--health-timeout", "0.3"},
			"health command killed after 0.3s: waiting", -9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := itParallel(t)
			args := append([]string{"start", "h", "-c", "sleep 100", "--linger", "0.2"}, tt.health...)
			pid := itPid(t, e.expect(fmt.Sprintf("running, health=%d, pid={N}", tt.code), "", 0, args...))
			// The response line has no room for the reason; JSON has.
			e.expect(fmt.Sprintf(`{"health":%d,"health_error":%s,"name":"h","pid":%d,"state":"running"}`, tt.code, jsonText(tt.why), pid),
				"", 0, "status", "h", "--json")
			itLogHas(e, "h", fmt.Sprintf("h: health check failed (health=%d): %s", tt.code, tt.why), 1)
		})
	}
	t.Run("a check that passes again clears the reason and says so", func(t *testing.T) {
		e := itParallel(t)
		pid := itPid(t, e.expect("running, health=1, pid={N}", "", 0, "start", "h", "-c", "sleep 100", "--linger", "0.2",
			"--health-command", "sh -c 'test -e ready || { echo no ready file >&2; exit 1; }'"))
		itWrite(t, filepath.Join(e.work, "ready"), "")
		e.expect(fmt.Sprintf(`{"health":0,"name":"h","pid":%d,"state":"running"}`, pid), "", 0, "status", "h", "--json")
		itLogHas(e, "h", "h: health check failed (health=1): health command exited with 1: no ready file", 1)
		itLogHas(e, "h", "h: health check passed", 1)
		// The command's stderr still reaches the log, as before.
		itLogHas(e, "h", "\nno ready file\n", 1)
	})
}

func TestItCtrlCActsAtOnce(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		health []string // the health check, which makes the file checking when the test is to press Ctrl-C
	}{
		{"during the first health check of a start it stops what it started",
			[]string{"--health-command", "sh -c 'touch checking; exec sleep 100'", "--health-timeout", "25"}},
		// The first check, which start runs, fails; the second, which the wait for health that
		// follows runs, makes the file.
		{"during the wait for health that follows it stops what it started",
			[]string{"--health-command", "sh -c 'test -e checked && touch checking; touch checked; exit 1'",
				"--health-count", "100", "--health-delay", "0.1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := itParallel(t)
			args := append([]string{"start", "slow", "-c", "sleep 100", "--linger", "0.2", "--ensure-healthy"}, tc.health...)
			r, took := itInterruptWhen(t, e, itFileIn(e, "checking"), args...)
			e.check(r, "killed, signal=15", "procdog: error: interrupted; stopped 'slow'", exitInterrupted)
			if took > 2*time.Second {
				t.Errorf("the interrupted start took %v to end, want it at once", took)
			}
			pids := itStarted(e, "slow")
			if len(pids) != 1 {
				t.Fatalf("started %v, want one process", pids)
			}
			itDead(t, itSoon, "the interrupted start's process", pids[0])
		})
	}
	t.Run("a start that found it running stops nothing", func(t *testing.T) {
		e := itParallel(t)
		pid := itPid(t, e.expect("running, health=0, pid={N}", "", 0, "start", "busy", "-c", "sleep 100", "--linger", "0.2",
			"--health-command", "sh -c 'test -e slow && { touch checking; exec sleep 100; }; exit 0'", "--health-timeout", "25"))
		itWrite(t, filepath.Join(e.work, "slow"), "")
		r, took := itInterruptWhen(t, e, itFileIn(e, "checking"), "start", "busy", "-c", "sleep 100", "--ensure-healthy")
		e.check(r, "", "procdog: error: interrupted", exitInterrupted)
		if took > 2*time.Second {
			t.Errorf("the interrupted start took %v to end", took)
		}
		if !itAlive(pid) {
			t.Errorf("the process that was running before the start (pid %d) was stopped", pid)
		}
		os.Remove(filepath.Join(e.work, "slow"))
		e.expect(fmt.Sprintf("running, health=0, pid=%d", pid), "", 0, "status", "busy")
	})
	t.Run("a start waiting for another monitor that owns the name stops nothing", func(t *testing.T) {
		e := itParallel(t)
		// The owner waits to restart its process: it answers exited and keeps the lock, so the next
		// start's monitor finds the name owned.
		e.expect("exited, returncode=1", "", 5, "start", "owned", "-c", "sh -c 'exit 1'", "--restart", "always",
			"--restart-delay", "100", "--linger", "0.2")
		r, _ := itInterruptWhen(t, e, func() (bool, string) {
			return strings.Contains(itLog(e, "owned"), "another monitor owns 'owned'"), itLog(e, "owned")
		}, "start", "owned", "-c", "sh -c 'exit 1'", "--ensure-healthy")
		e.check(r, "", "procdog: error: interrupted", exitInterrupted)
		if strings.Contains(itLog(e, "owned"), `request "stop"`) {
			t.Fatalf("the interrupted start sent stop to the monitor that owns the name:\n%s", itLog(e, "owned"))
		}
		e.expect("exited, returncode=1", "", 0, "stop", "owned")
	})
}

func TestMonitorLineAt(t *testing.T) {
	stamp := "2026-11-30T16:29:46.994Z"
	for _, tc := range []struct {
		line string
		want int
	}{
		{stamp + " procdog[5437] web: health check failed", 0},
		{"Serv" + stamp + " procdog[12] web: started pid 1", 4},
		{stamp + " procdog[5437] other: a line of another name's", -1},
		{"ready procdog[5] web: not after a time", -1},
		{"plain output", -1},
		{stamp + " procdog[] web: no pid", -1},
	} {
		itEqual(t, fmt.Sprintf("monitorLineAt(%q)", tc.line), monitorLineAt([]byte(tc.line), "web"), tc.want)
	}
}

// ---------------------------------------------------------------------------
// The golden tour.

// TestRunTestSh runs the golden-output tour, run_test.sh, with the binary that TestMain built, so
// that the one test command runs all three layers.
func TestRunTestSh(t *testing.T) {
	if testing.Short() {
		t.Skip("golden tour")
	}
	t.Parallel()
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "run_test.sh")
	cmd.Env = append(os.Environ(), "PROCDOG_BIN="+itBinary, "UPDATE=")
	// The tour's reaper hands SIGTERM on, and the tour's trap cleans up.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("run_test.sh failed: %v\n%s", err, out)
	}
}

// ---------------------------------------------------------------------------
// Benchmarks.

// Benchmarks: procdog against the floor, the least a command can do: a Go program that dials a Unix
// socket, sends a line and reads one (testdata/floor), built the same way. They report, never fail
// on a time:
//
//	go test -run '^$' -bench VsFloor -benchtime 1x

// BenchmarkVsFloor times status, stop and start against the floor, side by side and interleaved so
// that a busy machine weighs on all alike, and measures a monitor's memory and 100 simultaneous
// starts. Each ratio is to the floor of the same kind: status and stop to a request, start to a
// floor start.
func BenchmarkVsFloor(b *testing.B) {
	floor, err := itFloor()
	itMust(b, err)
	e := itNew(b)
	env := e.environ()
	procdog := func(args ...string) time.Duration { return timeCommand(b, env, itBinary, args...) }
	procdog("start", "bench", "--command", "sleep 1000", "--settle", "0")
	sock := e.path("bench", "sock")
	var floorT, floorStartT, statusT, startT, settleT, stopT []time.Duration
	for i := 0; i < b.N*benchSamples; i++ {
		name := fmt.Sprintf("s%d", i)
		floorT = append(floorT, timeCommand(b, env, floor, sock, "status"))
		statusT = append(statusT, procdog("status", "bench"))
		floorStartT = append(floorStartT, floorStarts(b, e, floor, 1))
		startT = append(startT, procdog("start", name, "--command", "sleep 1000", "--settle", "0", "--linger", "0"))
		stopT = append(stopT, procdog("stop", name))
		awaitEnd(e.monitorPid(name))
		if i < 3 { // the default settle time is a fixed 100 ms: a few suffice
			settleT = append(settleT, procdog("start", name, "--command", "sleep 1000", "--linger", "0"))
			procdog("stop", name)
			awaitEnd(e.monitorPid(name))
		}
	}
	f, fs := median(floorT), median(floorStartT)
	b.ReportMetric(ms(f), "floor-ms")
	b.ReportMetric(ms(median(statusT)), "status-ms")
	b.ReportMetric(ms(median(statusT))/ms(f), "status/floor")
	b.ReportMetric(ms(median(stopT)), "stop-ms")
	b.ReportMetric(ms(median(stopT))/ms(f), "stop/floor")
	b.ReportMetric(ms(fs), "floor-start-ms")
	b.ReportMetric(ms(median(startT)), "start-ms")
	b.ReportMetric(ms(median(startT))/ms(fs), "start/floor-start")
	b.ReportMetric(ms(median(settleT)), "start-settle-ms")
	if rss, ok := procKiB(e.monitorPid("bench"), "status", "VmRSS:"); ok {
		b.ReportMetric(float64(rss)/1024, "monitor-RSS-MiB")
	}

	// 100 simultaneous starts, then the monitors' memory all together.
	n := benchCrowd
	begin := time.Now()
	itAtOnce(n, func(i int) { procdog("start", fmt.Sprintf("c%d", i), "--command", "sleep 1000", "--settle", "0") })
	start100 := time.Since(begin)
	b.ReportMetric(start100.Seconds(), "start100-s")
	total, measured := 0, 0
	for i := range n {
		if pss, ok := procKiB(e.monitorPid(fmt.Sprintf("c%d", i)), "smaps_rollup", "Pss:"); ok {
			total += pss
			measured++
		}
	}
	if measured == n {
		b.ReportMetric(float64(total)/1024, "PSS100-MiB")
	}
	itAtOnce(n, func(i int) { procdog("stop", fmt.Sprintf("c%d", i)) })

	// The same 100 starts of the floor, whose monitors do nothing but start the command and answer:
	// what is left is this design's own cost, a client and a monitor per start, both Go programs.
	floor100 := floorStarts(b, e, floor, n)
	b.ReportMetric(floor100.Seconds(), "start100-floor-s")
	b.ReportMetric(start100.Seconds()/floor100.Seconds(), "start100/floor")
}

// BenchmarkTimeToHealthy: how long after a server is ready start --ensure-healthy returns,
// with the default options, for each kind of check: the median over benchSamples starts of a
// server ready 0.3 s after it starts, and over TCP, of one ready after 2 s.
func BenchmarkTimeToHealthy(b *testing.B) {
	for _, tc := range []struct{ kind, delay string }{{"log", "300ms"}, {"notify", "300ms"},
		{"tcp", "300ms"}, {"url", "300ms"}, {"command", "300ms"}, {"tcp", "2s"}} {
		b.Run(tc.kind+"-"+tc.delay, func(b *testing.B) {
			e := itNew(b)
			var overheads []time.Duration
			for i := 0; i < b.N*benchSamples; i++ {
				os.Remove(filepath.Join(e.work, "up"))
				e.expect("running, health=0, pid={N}", "", 0,
					append([]string{"start", "s", "--ensure-healthy", "--linger", "0"},
						itServerArgs(b, e, tc.kind, tc.delay)...)...)
				returned := time.Now()
				ready, err := os.ReadFile(filepath.Join(e.work, "ready"))
				itMust(b, err)
				ns, _ := strconv.ParseInt(string(ready), 10, 64)
				overheads = append(overheads, returned.Sub(time.Unix(0, ns)))
				e.expect("killed, signal=15", "", 0, "stop", "s")
				awaitEnd(e.monitorPid("s"))
			}
			b.ReportMetric(ms(median(overheads)), "overhead-ms")
		})
	}
}

// TestBenchmarkVsFloorRuns runs the benchmark once, briefly, so that it keeps working: one sample,
// and 10 simultaneous starts, not 100. It asserts nothing about time, so it runs beside the other
// tests.
func TestBenchmarkVsFloorRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("benchmark")
	}
	t.Parallel()
	defer func(s, c int) { benchSamples, benchCrowd = s, c }(benchSamples, benchCrowd)
	benchSamples, benchCrowd = 1, 10
	r := testing.Benchmark(BenchmarkVsFloor)
	for _, metric := range []string{"floor-ms", "status/floor", "stop/floor", "start/floor-start", "start100/floor"} {
		if r.Extra[metric] <= 0 {
			t.Errorf("the benchmark reported no %s: %v", metric, r.Extra)
		}
	}
}

func TestListKeepsWhatAnswers(t *testing.T) {
	// a answers running, b has only a log left (stopped), c's socket is refused (an error).
	dir, err := os.MkdirTemp("", "procdog-list-") // not t.TempDir: a socket path must be short
	itMust(t, err)
	defer os.RemoveAll(dir)
	ln, err := listenUnix(filepath.Join(dir, "procdog.a.sock"))
	itMust(t, err)
	defer ln.Close()
	go func() {
		for conn, err := ln.Accept(); err == nil; conn, err = ln.Accept() {
			bufio.NewReader(conn).ReadString('\n')
			io.WriteString(conn, "running, pid=1\n")
			conn.Close()
		}
	}()
	itMust(t, os.WriteFile(filepath.Join(dir, "procdog.b.log"), nil, 0o600))
	itMust(t, os.Symlink("elsewhere", filepath.Join(dir, "procdog.c.sock")))
	listed := func(all bool) (names, lines []string) {
		o := defaultOptions()
		o.All = all
		var out strings.Builder
		list(dir, o, &out)
		lines = strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
		for _, line := range lines {
			name, _, _ := strings.Cut(line, ": ")
			names = append(names, name)
		}
		return names, lines
	}
	gotNames, got := listed(false)
	if !slices.Equal(gotNames, []string{"a", "c"}) || len(got) != 2 || !strings.HasPrefix(got[1], "c: error: ") {
		t.Errorf("list without --all = %q, %q; want a and c", gotNames, got)
	}
	if gotNames, _ := listed(true); !slices.Equal(gotNames, []string{"a", "b", "c"}) {
		t.Errorf("list with --all = %q, want all of a, b and c", gotNames)
	}
}

func TestFitsConfig(t *testing.T) {
	for value, want := range map[string]bool{"sleep 100": true, "echo a\necho b": true,
		"# first line is fine": true, " lead": false, "trail ": false, "a\n\nb": false,
		"a\n  indented": false, "a\n# comment": false, "a\n; comment": false} {
		itEqual(t, fmt.Sprintf("fitsConfig(%q)", value), fitsConfig(value), want)
	}
}
