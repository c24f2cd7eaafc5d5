// Procdog starts, stops and checks the health of a process, detached from the
// shell, on Linux and macOS, without root:
//
//	$ procdog start web -c "python3 -m http.server" --health-tcp 127.0.0.1:8000 --ensure-healthy
//	running, health=0, pid=14969
//
// Every command is a client. start re-executes the binary as NAME's monitor, which
// holds the flock on procdog.NAME.lock (with the pid and start time, so that a process
// whose monitor was killed is found again), runs the process as a process group leader,
// and serves the Unix socket procdog.NAME.sock until it has lingered after the exit.
// One goroutine, monitor.loop, owns the monitor's state. The protocol: within 2 s a
// client sends one line of at most 1 KiB ("status", "wait", "stop", "signal SIG",
// "options" or "health-error") and reads one line, for most a response ("running,
// health=0, pid=12": a code, then sorted key=value pairs).
//
// The state directory (/var/tmp, or $PROCDOG_DIR) is shared with other users, so
// every file there is opened without following links and then checked, and a client
// believes only a monitor whose peer credentials are its own.
package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"
	"unsafe"
)

const (
	version    = "0.2.0"
	monitorArg = "__procdog_monitor__" // the hidden first argument of a monitor
)

// Exit codes are public: scripts test them.
const (
	exitOK             = 0
	exitError          = 2 // usage error, or an error: response
	exitUnknown        = 3 // invalid response, bad config, failed expansion, anything unexpected
	exitAlreadyRunning = 4
	exitNotRunning     = 5
	exitUnhealthy      = 6
	exitInterrupted    = 130 // the shell's convention for death by SIGINT
)

// Response codes. codeBusy goes only from a monitor to its client: another has the name.
const (
	codeRunning = "running"
	codeExited  = "exited"
	codeKilled  = "killed"
	codeStopped = "stopped"
	codeError   = "error"
	codeInvalid = "invalid"
	codeBusy    = "busy"
)

// Every socket operation has a deadline.
const (
	dialTimeout      = 2 * time.Second
	requestDeadline  = 2 * time.Second // for the client's request line
	maxRequestLine   = 1024            // longer request lines are dropped, not buffered
	maxStatusLine    = 4096            // longer HTTP status lines are unhealthy, not buffered
	answerSlack      = 5 * time.Second // added to the work a request may take
	lockPollInterval = 2 * time.Millisecond
	maxLockPoll      = 100 * time.Millisecond
	livenessInterval = 3 * time.Second // how often a waiting client checks its monitor answers
	probeDeadline    = 5 * time.Second // for that check: "at once" takes seconds under load
)

// debugging is set once by runCommand from --debug.
var debugging bool

func debugf(format string, args ...any) {
	if debugging {
		fmt.Fprintf(os.Stderr, "procdog: debug: "+format+"\n", args...)
	}
}

// ---------------------------------------------------------------------------
// main, the commands and their help.

func main() {
	if len(os.Args) > 1 && os.Args[1] == monitorArg {
		os.Exit(runMonitor(os.Args[2:]))
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run returns the exit code, so that deferred cleanups happen before main exits.
func run(args []string, stdout, stderr io.Writer) int {
	return report(stderr, runCommand(args, stdout, stderr))
}

// report prints err on stderr, the same way for every error, and returns its exit code.
func report(stderr io.Writer, err error) int {
	if err == nil {
		return exitOK
	}
	var ee *codedError
	if !errors.As(err, &ee) {
		ee = &codedError{code: exitUnknown, msg: err.Error()}
	}
	if ee.usage {
		fmt.Fprintln(stderr, usageLine)
	}
	if ee.msg != "" {
		fmt.Fprintf(stderr, "procdog: error: %s\n", ee.msg)
	}
	if ee.hint != "" {
		fmt.Fprintf(stderr, "procdog: %s\n", ee.hint)
	}
	return ee.code
}

// runCommand returns a non-zero exit as a *codedError, with no message if the response said it.
func runCommand(args []string, stdout, stderr io.Writer) error {
	cl, err := parseCommandLine(args)
	if err != nil {
		return err
	}
	command, words := "", []string(nil)
	if len(cl.words) > 0 {
		command, words = cl.words[0], cl.words[1:]
	}
	switch {
	case cl.help || command == "help":
		return printHelp(cl, stdout)
	case cl.version || command == "version":
		if len(words) > 0 && !cl.version {
			return usageErrorf("unrecognized arguments: %s", strings.Join(words, " "))
		}
		fmt.Fprintln(stdout, "procdog "+version)
		return nil
	case len(cl.words) == 0:
		err := usageErrorf("the following arguments are required: COMMAND").(*codedError)
		err.hint = "COMMAND is one of " + strings.ReplaceAll(commandChoices, "'", "") +
			"; 'procdog -h' for help"
		return err
	}
	c, ok := findCommand(command)
	switch {
	case !ok:
		return invalidCommand(command)
	case len(words) < len(c.words):
		missing := strings.TrimSuffix(strings.Join(c.words[len(words):], ", "), "...")
		return usageErrorf("the following arguments are required: %s", missing)
	case len(words) > len(c.words) && !c.takesNames():
		return usageErrorf("unrecognized arguments: %s", strings.Join(words[len(c.words):], " "))
	}
	debugging, _ = parseBool(orDefault(cl.set["debug"], "false"))
	switch {
	case command == "list":
		o := defaultOptions()
		if err := o.applyCommandLine(cl); err != nil {
			return err
		}
		list(stateDir(), o, stdout)
		return nil
	case command == "export":
		return runExport(cl, words, stdout, stderr)
	case len(words) > 1 && c.takesNames():
		return runNames(command, words, cl, stdout, stderr)
	}
	return runName(command, words, cl, stdout)
}

// runName runs a command for one name: words are NAME and the command's others.
func runName(command string, words []string, cl commandLine, stdout io.Writer) error {
	name := words[0]
	if !validName(name) {
		return invalidName(name)
	}
	c := client{dir: stateDir(), name: name, command: command}
	if over := len(statePath(c.dir, name, "sock")+newSocketSuffix) - maxSocketPath(); over > 0 {
		if len(name) > over {
			return usageErrorf("process name '%s' is too long for a socket in %s "+
				"(at most %d characters fit)", name, c.dir, len(name)-over)
		}
		return usageErrorf("the state directory %s is too long for a socket path; "+
			"set PROCDOG_DIR to a shorter one", c.dir)
	}
	var err error
	if c.o, err = resolveOptions(cl, name); err != nil {
		return err
	}
	var r response
	switch command {
	case "restart":
		if c.o, err = c.restartOptions(cl); err != nil {
			return err
		}
		fallthrough
	case "start":
		if c.o.EnsureHealthy {
			r, err = c.startHealthy(stdout)
		} else {
			r, _, err = c.start()
		}
	case "status", "wait", "stop":
		r, err = c.request(command)
	case "signal":
		if _, err := parseSignal(words[1]); err != nil {
			return usageErrorf("argument signal: %v", err)
		}
		r, err = c.request("signal " + words[1])
	case "logs":
		return c.logs(stdout)
	case "show":
		return c.show(stdout)
	}
	if err != nil {
		return err
	}
	if command == "stop" && c.o.Strict && r.code == codeStopped {
		return failf(exitNotRunning, "process '%s' is not running", name)
	}
	if c.o.JSON {
		r = c.withHealthError(r)
	}
	printResponse(stdout, name, r, c.o.JSON)
	return exitWith(exitCodeFor(command, r, c.o))
}

func invalidName(name string) error {
	return usageErrorf("Invalid process name '%s'; "+
		"must be alphanumeric, with only underscores or dashes", name)
}

// runNames prints "NAME: <response>" for each name. start and restart go in order and
// stop at the first failure, so that "start db web --ensure-healthy" has db healthy
// before web starts; stop goes in reverse, through every name; status and wait at once.
func runNames(command string, names []string, cl commandLine, stdout, stderr io.Writer) error {
	if i := slices.IndexFunc(names, func(name string) bool { return !validName(name) }); i >= 0 {
		return invalidName(names[i])
	}
	if command == "stop" {
		names = slices.Clone(names)
		slices.Reverse(names)
	}
	asJSON, _ := parseBool(orDefault(cl.set["json"], "false"))
	outs, errs := make([]bytes.Buffer, len(names)), make([]error, len(names))
	runOne := func(i int) { errs[i] = runName(command, names[i:i+1], cl, &outs[i]) }
	together := command == "status" || command == "wait"
	if together {
		var wg sync.WaitGroup
		for i := range names {
			wg.Add(1)
			go func() {
				defer wg.Done()
				runOne(i)
			}()
		}
		wg.Wait()
	}
	first := exitOK
	for i, name := range names {
		if !together {
			runOne(i)
		}
		for _, line := range strings.SplitAfter(outs[i].String(), "\n") {
			if line != "" && !asJSON {
				line = name + ": " + line
			}
			io.WriteString(stdout, line)
		}
		if code := report(stderr, errs[i]); code != exitOK && first == exitOK {
			first = code
			if command == "start" || command == "restart" {
				break
			}
		}
	}
	return exitWith(first)
}

// invalidCommand is argparse's error for an unknown command, with a typo hint.
func invalidCommand(command string) error {
	err := usageErrorf("argument command: invalid choice: '%s' (choose from %s)",
		command, commandChoices)
	if near := suggestCommand(command); near != "" {
		err.(*codedError).hint = "did you mean '" + near + "'?"
	}
	return err
}

func printHelp(cl commandLine, stdout io.Writer) error {
	words := cl.words
	if len(words) > 0 && words[0] == "help" {
		words = words[1:]
		if len(words) > 1 && !cl.help {
			return usageErrorf("unrecognized arguments: %s", strings.Join(words[1:], " "))
		}
	}
	text := helpText()
	if len(words) > 0 {
		if c, ok := findCommand(words[0]); ok {
			text = commandHelp(c)
		} else if !cl.help && words[0] != "help" && words[0] != "version" {
			return invalidCommand(words[0])
		}
	}
	fmt.Fprint(stdout, text)
	return nil
}

// commandSpec: words are as argparse named them in errors; uses lists the options
// the command uses if not all (COMMAND -h lists only these, only these are expanded).
type commandSpec struct {
	name, help    string
	words         []string
	uses, example string
}

func (c commandSpec) takesNames() bool { return slices.Equal(c.words, manyNames) }

func (c commandSpec) synopsis() string {
	words := strings.NewReplacer("name", "NAME", "signal", "SIG", "format", "FORMAT")
	return strings.TrimSpace(c.name + " " + words.Replace(strings.Join(c.words, " ")))
}

var manyNames = []string{"name..."}

// commands, in help's order. One that lists no options uses all but ownOptions.
var commands = []commandSpec{
	{"start", "start NAME unless it is running, and print its status", manyNames, "",
		`procdog start web --command "python3 -m http.server 8080 --bind 127.0.0.1"` +
			` --health-url http://127.0.0.1:8080/ --ensure-healthy`},
	{"status", "print the status of NAME", manyNames, "ensure-healthy json config debug",
		"procdog status web --json"},
	{"wait", "wait until the health check passes (or --health-count tries fail)", manyNames,
		"json config debug", "procdog wait web"},
	{"stop", "stop NAME and its whole process group", manyNames, "strict json config debug",
		"procdog stop web --strict"},
	{"restart", "stop NAME if it runs, then start it with the options it had", manyNames, "",
		"procdog restart web --linger 10"},
	{"list", "print NAME: status for every NAME whose monitor answers (--all: every NAME)", nil,
		"all json debug", "procdog list --all"},
	{"signal", "send a signal (HUP, TERM, 9, ...) to NAME's process group",
		[]string{"name", "signal"}, "ensure-healthy json config debug", "procdog signal web HUP"},
	{"logs", "print the end of NAME's output; -f follows it", []string{"name"},
		"lines follow stdout dir config debug", "procdog logs web -n 20 -f"},
	{"show", "print the options NAME's monitor runs with, as config file lines", []string{"name"},
		"json config debug", "procdog show web --json"},
	{"export", "print a systemd unit or launchd plist that runs NAME as start would",
		[]string{"format", "name"}, "",
		"procdog export systemd web --output ~/.config/systemd/user/procdog-web.service"},
}

// ownOptions are used only by the commands that list them, and export uses output.
var ownOptions = []string{"lines", "follow", "all", "output"}

func findCommand(name string) (commandSpec, bool) {
	i := slices.IndexFunc(commands, func(c commandSpec) bool { return c.name == name })
	if i < 0 {
		return commandSpec{}, false
	}
	return commands[i], true
}

func usesOption(command, long string) bool {
	if c, _ := findCommand(command); c.uses != "" {
		return slices.Contains(strings.Fields(c.uses), long)
	}
	return !slices.Contains(ownOptions, long) || command == "export" && long == "output"
}

// usageLine and commandChoices are what argparse printed, for the commands.
var usageLine, commandChoices = func() (string, string) {
	names := make([]string, len(commands))
	for i, c := range commands {
		names[i] = c.name
	}
	return "usage: procdog {" + strings.Join(names, ",") + "} [NAME] [options]",
		"'" + strings.Join(names, "', '") + "'"
}()

const helpOption = "  -h, --help              show this help and exit\n"

func helpText() string {
	var b strings.Builder
	b.WriteString(usageLine + "\n\nStart, stop and check the health of a process, " +
		"detached from the shell.\n\ncommands:\n")
	for _, c := range commands {
		fmt.Fprintf(&b, "  %-15s  %s\n", c.synopsis(), c.help)
	}
	b.WriteString("  help [COMMAND]   show this help, or what COMMAND takes (also: COMMAND -h)\n")
	b.WriteString("  version          show the version\n")
	b.WriteString("\noptions:\n" + helpOption)
	b.WriteString("  -v, --version           show the version and exit\n")
	for _, s := range optionSpecs {
		b.WriteString(s.helpLine())
	}
	b.WriteString("\nState lives in $PROCDOG_DIR (default /var/tmp). Exit codes: 0 ok, 2 error,\n")
	b.WriteString("3 unknown, 4 already running, 5 not running, 6 not healthy.\n")
	return b.String()
}

func (s optionSpec) helpLine() string {
	def := defaultOptions()
	synopsis := "--" + s.long
	if s.short != "" {
		synopsis = "-" + s.short + ", " + synopsis
	}
	if !s.isBool() {
		synopsis += " " + strings.ToUpper(s.key())
	}
	help := s.help
	if v := s.value(&def); v != s.value(&options{}) {
		help += fmt.Sprintf(" (default %v)", v)
	}
	if len(synopsis) > 22 {
		return fmt.Sprintf("  %s\n  %-22s  %s\n", synopsis, "", help)
	}
	return fmt.Sprintf("  %-22s  %s\n", synopsis, help)
}

// commandHelp is COMMAND -h: only the options the command uses, and an example.
func commandHelp(c commandSpec) string {
	var b strings.Builder
	fmt.Fprintf(&b, "usage: procdog %s [options]\n\n%s\n\noptions:\n%s", c.synopsis(), c.help,
		helpOption)
	for _, s := range optionSpecs {
		if usesOption(c.name, s.long) {
			b.WriteString(s.helpLine())
		}
	}
	fmt.Fprintf(&b, "\nexample:\n  $ %s\n\n'procdog -h' shows every command and option.\n",
		c.example)
	return b.String()
}

// suggestCommand is the command nearest to word, if near enough to be a typo.
func suggestCommand(word string) string {
	best, bestDist := "", 3
	for _, c := range slices.Concat(commands, []commandSpec{{name: "help"}, {name: "version"}}) {
		if d := editDistance(strings.ToLower(word), c.name); d < bestDist && d < len(c.name) {
			best, bestDist = c.name, d
		}
	}
	return best
}

// editDistance counts a swap of neighbours as one edit: "strat" is one from "start".
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		for j := range d[i] {
			d[i][j] = i + j // the distance from or to "", and an upper bound
			if i == 0 || j == 0 {
				continue
			}
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

// ---------------------------------------------------------------------------
// Errors that know their exit code.

// codedError is reported as one "procdog: error: MSG" line, after the usage line if usage
// is set, and the process exits with code.
type codedError struct {
	code  int
	msg   string
	usage bool
	hint  string // a second line, "procdog: HINT", that says what to do
}

func (e *codedError) Error() string { return e.msg }

func usageErrorf(format string, args ...any) error {
	return &codedError{code: exitError, msg: fmt.Sprintf(format, args...), usage: true}
}

func failf(code int, format string, args ...any) error {
	return &codedError{code: code, msg: fmt.Sprintf(format, args...)}
}

// exitWith is the error that exits with code and says nothing: nil for exitOK.
func exitWith(code int) error {
	if code == exitOK {
		return nil
	}
	return &codedError{code: code}
}

// ---------------------------------------------------------------------------
// Client.

// client is what every command needs: the state directory, the name and the options.
type client struct {
	dir     string
	name    string
	o       options
	command string       // as the user typed it, for messages: start or restart
	spawned *atomic.Bool // if not nil, set while start has a monitor of its own starting
}

// request sends one request line to NAME's monitor and returns its answer. With no monitor,
// an orphan of NAME's (see findOrphan) answers in its place; with neither, NAME is stopped.
func (c client) request(line string) (response, error) {
	answer, alive, err := exchange(c.dir, c.name, line)
	if err != nil || alive {
		return parseResponse(answer), err
	}
	pid, ok := findOrphan(c.dir, c.name)
	if !ok {
		return newResponse(codeStopped), nil
	}
	switch verb, arg, _ := strings.Cut(line, " "); verb {
	case "stop":
		return c.stopOrphan(pid), nil
	case "signal":
		if sig, err := parseSignal(arg); err == nil {
			syscall.Kill(-pid, sig)
		}
	}
	return newResponse(codeRunning, "orphaned", 1, "pid", pid), nil
}

// start starts NAME unless it runs; started tells whether this call did. Racing starts are
// settled by their monitors with the lock: a loser reports the winner's process. While another
// monitor owns the name, its lock is polled, slower and slower: each poll is a line in its log.
func (c client) start() (r response, started bool, err error) {
	if err := c.checkStartable(c.o); err != nil {
		return r, false, err
	}
	if err := c.o.resolvePaths(); err != nil {
		return r, false, err
	}
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return r, false, failf(exitUnknown, "cannot make the state directory: %v", err)
	}
	spawned := cmp.Or(c.spawned, new(atomic.Bool))
	deadline := time.Now().Add(firstAnswerTimeout(c.o) + maxRestartDelay)
	var poll time.Duration // 0 until another monitor is found owning the name
	for time.Now().Before(deadline) {
		// A monitor whose process has not exited answers running, or an error.
		r, err = c.request("status")
		if err != nil || r.code != codeStopped && r.code != codeExited {
			if err == nil && c.o.Strict {
				err = failf(exitAlreadyRunning, "process '%s' is already running", c.name)
			}
			return r, false, err
		}
		if poll > 0 && lockHeld(statePath(c.dir, c.name, "lock")) {
			time.Sleep(poll)
			poll = min(2*poll, maxLockPoll)
			continue
		}
		spawned.Store(true)
		if r, err = c.spawnMonitor(); err != nil || r.code != codeBusy {
			return r, err == nil, err
		}
		spawned.Store(false) // it started nothing: a Ctrl-C now stops nothing
		debugf("another monitor owns '%s'; waiting for its answer", c.name)
		poll = lockPollInterval
	}
	return r, false, failf(exitUnknown, "gave up starting '%s': another start kept the lock",
		c.name)
}

// checkStartable checks what it can of o before anything starts, or stops: restart must not
// stop a process that it then cannot start again.
func (c client) checkStartable(o options) error {
	argv, err := o.commandArgs()
	if err != nil {
		return err
	}
	if strings.TrimSpace(o.Command) == "" || len(argv) == 0 || argv[0] == "" {
		err := usageErrorf("Must specify --command with '%s' or supply a command in the "+
			"config file for this id ('%s')", orDefault(c.command, "start"), c.name)
		err.(*codedError).hint = configHint(c.name, orDefault(o.Config, findConfig()))
		return err
	}
	if _, err := o.healthArgs(); err != nil {
		return err
	}
	if err := o.checkHealthProbes(); err != nil {
		return err
	}
	if fi, err := os.Stat(orDefault(o.Dir, ".")); err != nil || !fi.IsDir() {
		return usageErrorf("Not a directory: %s", o.Dir)
	}
	return nil
}

// monitorOptions asks NAME's monitor for the options it was started with, Go-quoted flags;
// ok is false when no monitor answers.
func (c client) monitorOptions() (o options, ok bool, err error) {
	answer, alive, err := exchange(c.dir, c.name, "options")
	if err != nil || !alive {
		return o, false, err
	}
	var flags []string
	for r := strings.NewReader(answer); err == nil && r.Len() > 0; {
		var flag string
		if _, err = fmt.Fscanf(r, "%q", &flag); err == nil {
			flags = append(flags, flag)
		}
	}
	if err == nil {
		o, err = optionsFromFlags(flags)
	}
	if err != nil {
		return o, false, failf(exitUnknown, "the monitor of '%s' answered %q for its options: %v",
			c.name, answer, err)
	}
	return o, true, nil
}

// restartOptions stops NAME if it runs and returns the options to start it again with: its
// monitor's, under what this command line gives, or with no monitor, the options given.
func (c client) restartOptions(cl commandLine) (options, error) {
	o, ok, err := c.monitorOptions()
	if ok {
		o.Strict = c.o.Strict // this command's business, as is how to print, which cl gives
		err = o.applyCommandLine(cl)
	} else if err == nil {
		o = c.o
	}
	if err == nil {
		err = c.checkStartable(o)
	}
	if err != nil {
		return o, err
	}
	// The monitor refuses a health command it cannot run: found after the stop, that would
	// leave nothing running.
	if health, _ := o.healthArgs(); len(health) > 0 {
		if _, err := findExecutable(health[0], orDefault(o.Dir, ".")); err != nil {
			return o, failf(exitError, "Failed to run health command: %s", describeExecError(err))
		}
	}
	_, err = c.request("stop")
	return o, err
}

// findOrphan is the pid of NAME's orphan, if any: a process whose monitor was killed (kill -9,
// the OOM killer). Its pid and start time are in procdog.NAME.lock, which no monitor locks any
// more; the start time tells it from a later process with its pid.
func findOrphan(dir, name string) (int, bool) {
	f, err := openStateFile(statePath(dir, name, "lock"), os.O_RDONLY)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	if syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB) != nil {
		return 0, false // a monitor holds it: it is starting or running
	}
	var pid int
	var started string
	_, err = fmt.Fscanf(io.LimitReader(f, 128), "pid=%d start=%s\n", &pid, &started)
	if err != nil || pid <= 1 {
		return 0, false
	}
	// Signals go to the process group: a pid that leads none is not one of ours, whatever the
	// file says (and kill(-1) would reach every process).
	pgid, err := syscall.Getpgid(pid)
	if err != nil || pgid != pid || processStart(pid) != started {
		return 0, false
	}
	debugf("found the orphan %d of '%s' (started %s)", pid, name, started)
	return pid, true
}

// stopOrphan stops an orphan's process group as its monitor would. The group's id stays
// reserved while any member lives, so the signals reach no one else.
func (c client) stopOrphan(pid int) response {
	started := processStart(pid)
	sig, _ := parseSignal(string(c.o.StopSignal))
	signalGroup(pid, sig)
	if !awaitGroupEnd(pid, time.Now().Add(seconds(c.o.StopTimeout))) {
		if syscall.Kill(pid, 0) == nil && processStart(pid) == started {
			sig = syscall.SIGKILL // the leader itself outlived the timeout
		}
		syscall.Kill(-pid, syscall.SIGKILL)
	}
	if lock, err := acquireLock(statePath(c.dir, c.name, "lock")); err == nil {
		releaseLock(lock) // which removes it: the orphan is no more
	}
	return newResponse(codeKilled, "signal", int(sig))
}

// withHealthError adds to r, for JSON, why its health check failed, which the response line
// has no room for: the monitor tells it on a request of its own.
func (c client) withHealthError(r response) response {
	if r.values["health"] != 0 {
		answer, alive, _ := exchange(c.dir, c.name, "health-error")
		if alive && answer != codeInvalid {
			r.healthError = answer
		}
	}
	return r
}

// list prints the status of every name in the state directory, asking all at once.
func list(dir string, o options, stdout io.Writer) {
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), "procdog.")
		name, kind, _ := strings.Cut(rest, ".")
		if ok && validName(name) && (kind == "sock" || kind == "lock" || kind == "log") {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	names = slices.Compact(names)
	responses := make([]response, len(names))
	var wg sync.WaitGroup
	for i := range names {
		wg.Add(1)
		go func(i int) { // i passed: a vendoring module's go line may be older than 1.22
			defer wg.Done()
			c := client{dir: dir, name: names[i], o: o}
			if r, err := c.request("status"); err != nil {
				responses[i] = errorResponse("%v", err)
			} else if responses[i] = r; o.JSON {
				responses[i] = c.withHealthError(r)
			}
		}(i)
	}
	wg.Wait()
	names, responses = listed(names, responses, o.All)
	objects := make([]any, len(names))
	for i, r := range responses {
		if objects[i] = json.RawMessage(r.json(names[i])); !o.JSON {
			fmt.Fprintf(stdout, "%s: %s\n", names[i], r)
		}
	}
	if o.JSON {
		fmt.Fprintln(stdout, jsonText(objects))
	}
}

// listed keeps the names not stopped, or with all, every one: names with only files left
// (other users' too) are stopped.
func listed(names []string, responses []response, all bool) ([]string, []response) {
	var keptNames []string
	var kept []response
	for i, r := range responses {
		if all || r.code != codeStopped {
			keptNames, kept = append(keptNames, names[i]), append(kept, r)
		}
	}
	return keptNames, kept
}

// logs prints the last lines of NAME's --stdout file, else of the monitor log, and with
// --follow what is added. Only a regular file: following a FIFO or a device would hang.
func (c client) logs(stdout io.Writer) error {
	o, ok, err := c.monitorOptions()
	if err != nil {
		return err
	}
	if !ok {
		if o = c.o; o.resolvePaths() != nil {
			return failf(exitUnknown, "cannot find the output of '%s'", c.name)
		}
	}
	path, flag, check := o.Stdout, os.O_RDONLY, func(fi os.FileInfo) string {
		if !fi.Mode().IsRegular() {
			return "it is not a regular file"
		}
		return ""
	}
	if path == "" {
		path, check = statePath(c.dir, c.name, "log"), stateFileProblem
		flag |= syscall.O_NOFOLLOW
	}
	f, err := openChecked(path, flag, 0, "use", "no output to show for '"+c.name+"'", check)
	if err != nil {
		return err
	}
	defer f.Close()
	offset, err := tailOffset(f, c.o.Lines)
	for err == nil {
		var n int64
		n, err = io.Copy(stdout, io.NewSectionReader(f, offset, 1<<62))
		if err != nil || !c.o.Follow {
			break
		}
		offset += n
		time.Sleep(200 * time.Millisecond) // following a file is polling it
		if fi, statErr := f.Stat(); statErr == nil && fi.Size() < offset {
			offset = 0 // truncated: start over, as tail -f does
		}
	}
	if err != nil {
		return failf(exitUnknown, "reading %s: %v", f.Name(), err)
	}
	return nil
}

// tailOffset is where the last n lines of f begin.
func tailOffset(f *os.File, n int) (int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	} else if n <= 0 {
		return fi.Size(), nil
	}
	buf := make([]byte, 64<<10)
	// Search backwards from before the last byte: the newline that ends the last line starts none.
	for end := fi.Size() - 1; end > 0; {
		pos := max(end-int64(len(buf)), 0)
		b := buf[:end-pos]
		if _, err := f.ReadAt(b, pos); err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		for i := bytes.LastIndexByte(b, '\n'); i >= 0; i = bytes.LastIndexByte(b[:i], '\n') {
			if n--; n == 0 {
				return pos + int64(i) + 1, nil
			}
		}
		end = pos
	}
	return 0, nil
}

// show prints the options NAME's monitor runs with that differ from the defaults, as the
// lines of a config file's [NAME] section, or as one JSON object.
func (c client) show(stdout io.Writer) error {
	o, ok, err := c.monitorOptions()
	if err != nil {
		return err
	} else if !ok {
		printResponse(stdout, c.name, newResponse(codeStopped), c.o.JSON)
		return &codedError{code: exitNotRunning}
	}
	var lines []string
	fields := []string{`"name":` + jsonText(c.name)}
	for _, ch := range o.changed() { // the command, the first option, comes first
		lines = append(lines, configLine(ch.spec.key(), ch.value))
		value := jsonText(ch.value)
		if ch.spec.field(&o).Kind() != reflect.String {
			value = ch.value
		}
		fields = append(fields, jsonText(ch.spec.key())+":"+value)
	}
	if c.o.JSON {
		fmt.Fprintf(stdout, "{%s}\n", strings.Join(fields, ","))
	} else {
		fmt.Fprintln(stdout, strings.Join(lines, "\n"))
	}
	return nil
}

// configLine is key=value as a config file says it: a value's further lines indented, and
// where procdog expands $VAR, the monitor's expanded value's $ as $$.
func configLine(key, value string) string {
	line := ""
	if !fitsConfig(value) {
		line = "# " + key + ": a config file cannot hold this value as it is" +
			" (blanks at an end, or a line blank, indented or starting with # or ;)\n"
	}
	if expandedKeys[key] {
		value = strings.ReplaceAll(value, "$", "$$")
	}
	return line + key + "=" + strings.ReplaceAll(value, "\n", "\n  ")
}

// fitsConfig tells whether parseINI reads value back as configLine writes it: it trims each
// line, and skips blank and comment lines.
func fitsConfig(value string) bool {
	for i, line := range strings.Split(value, "\n") {
		t := strings.TrimSpace(line)
		if t != line || i > 0 && (t == "" || t[0] == '#' || t[0] == ';') {
			return false
		}
	}
	return true
}

// firstAnswerTimeout bounds a new monitor's answer to start: the settle time, one health check.
func firstAnswerTimeout(o options) time.Duration {
	return seconds(o.Settle) + seconds(o.HealthTimeout) + answerSlack
}

// spawnMonitor re-executes this binary as NAME's monitor, in a new session, and reads its first
// answer from a pipe: the settled status, an error, or codeBusy. The client keeps nothing of
// the monitor's, so whoever reads the client's output through a pipe gets EOF when it exits.
func (c client) spawnMonitor() (response, error) {
	exe, err := os.Executable()
	if err != nil {
		return response{}, failf(exitUnknown, "cannot find my own executable: %v", err)
	}
	logPath := statePath(c.dir, c.name, "log")
	logFile, err := openStateFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND)
	if err != nil {
		return response{}, err
	}
	defer logFile.Close()
	ready, readyW, err := os.Pipe()
	if err != nil {
		return response{}, failf(exitUnknown, "%v", err)
	}
	defer ready.Close()
	// The monitor is never waited for: it outlives the client and is left to init. "/" keeps
	// no directory busy; fd 3 is the ready pipe.
	cmd := exec.Command(exe, append([]string{monitorArg, c.name, c.dir}, c.o.flags()...)...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = "/", logFile, logFile
	cmd.ExtraFiles = []*os.File{readyW}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Env = []string{"GOMAXPROCS=1"} // see savedGOMAXPROCS
	for _, kv := range os.Environ() {
		if v, ok := strings.CutPrefix(kv, "GOMAXPROCS="); ok {
			kv = savedGOMAXPROCS + "=" + v
		}
		cmd.Env = append(cmd.Env, kv)
	}
	debugf("spawning monitor: %s %s", exe, monitorArg)
	closeInheritedOnExec()
	err = cmd.Start()
	readyW.Close()
	if err != nil {
		return response{}, failf(exitUnknown, "cannot start the monitor: %v", err)
	}
	cmd.Process.Release()
	ready.SetReadDeadline(time.Now().Add(firstAnswerTimeout(c.o)))
	line, err := bufio.NewReader(ready).ReadString('\n')
	if err != nil {
		return response{}, failf(exitUnknown, "the monitor of '%s' did not answer (%v); see %s",
			c.name, err, logPath)
	}
	debugf("monitor answered: %s", strings.TrimSpace(line))
	return parseResponse(line), nil
}

// startHealthy is start --ensure-healthy: it starts NAME, waits for it to become healthy, and
// stops it if it does not. Ctrl-C at any moment stops at once what this start spawned.
func (c client) startHealthy(stdout io.Writer) (response, error) {
	interrupt := make(chan os.Signal, 1)
	signal.Notify(interrupt, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(interrupt)
	c.spawned = new(atomic.Bool)
	var r response
	var started bool
	var err error
	done := make(chan struct{}) // r, started and err are read once it is closed
	go func() {
		defer close(done)
		if r, started, err = c.start(); started && r.code == codeRunning && !r.healthy() {
			r, err = c.request("wait")
		}
	}()
	select {
	case <-done:
		if !received(interrupt) {
			if started && err == nil && r.code == codeRunning && !r.healthy() {
				return c.request("stop")
			}
			return r, err
		}
	case <-interrupt:
		// Until its socket is in place, the spawned monitor cannot be told to stop: try
		// again until it is, or the start tells.
		for c.spawned.Load() && !received(done) {
			if stop, err := c.request("stop"); err != nil || stop.code != codeStopped {
				return response{}, c.reportInterrupted(stdout, stop, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if !received(done) {
			return response{}, errInterrupted
		}
	}
	if !started {
		return r, cmp.Or(err, error(errInterrupted))
	}
	debugf("interrupted: stopping '%s'", c.name)
	stop, err := c.request("stop")
	return response{}, c.reportInterrupted(stdout, stop, err)
}

// received tells whether ch has a value ready, or is closed, taking the value.
func received[T any](ch <-chan T) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// errInterrupted ends a start that Ctrl-C interrupted with nothing to stop.
var errInterrupted = &codedError{code: exitInterrupted, msg: "interrupted"}

// reportInterrupted prints the answer to the stop that an interrupted start asked for, and
// exits 130, as a shell does for Ctrl-C.
func (c client) reportInterrupted(stdout io.Writer, r response, err error) error {
	if err != nil {
		return err
	}
	printResponse(stdout, c.name, r, c.o.JSON)
	return &codedError{code: exitInterrupted, msg: "interrupted; stopped '" + c.name + "'"}
}

// probeMonitor asks the monitor at path for its options, which it answers at once however
// busy it is: a monitor that does not is wedged.
func probeMonitor(path string) error {
	conn, err := dialMonitor(path)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(probeDeadline))
	if _, err = io.WriteString(conn, "options\n"); err == nil {
		_, err = bufio.NewReader(conn).ReadString('\n')
	}
	return err
}

// exchange sends one request line to NAME's monitor and returns its answer; alive is false when
// no monitor answers. Only the monitor knows how long its work may take, and the kernel closes
// the connection if it dies; so the client waits as long as the monitor shows, every
// livenessInterval on a second connection, that it is not wedged (stopped, say).
func exchange(dir, name, line string) (answer string, alive bool, err error) {
	path := statePath(dir, name, "sock")
	if err := checkStateFile(path); err != nil {
		return "", false, err
	}
	conn, err := dialMonitor(path)
	var ce *codedError
	switch {
	case monitorGone(err):
		debugf("no monitor at %s: %v", path, err)
		return "", false, nil
	case errors.As(err, &ce):
		return "", false, err
	case err != nil:
		return "", false, failf(exitUnknown, "cannot reach the monitor of '%s': %v", name, err)
	}
	defer conn.Close()
	conn.SetWriteDeadline(time.Now().Add(requestDeadline))
	debugf("sending %q to %s", line, path)
	if _, err = io.WriteString(conn, line+"\n"); err == nil {
		if answer, alive, err = awaitAnswer(conn, path, name); !alive {
			return "", false, err
		}
	}
	if err != nil && answer == "" && monitorGone(err) {
		debugf("the monitor closed the connection: %v", err)
		return "", false, nil
	} else if err != nil {
		return "", false, failf(exitUnknown, "cannot talk to the monitor of '%s': %v", name, err)
	}
	debugf("answer: %s", strings.TrimSpace(answer))
	return strings.TrimRight(answer, "\n"), true, nil
}

// awaitAnswer reads the answer on conn as exchange says; alive is false when the monitor has
// gone or does not answer (err says so). A read error comes back with alive set.
func awaitAnswer(conn net.Conn, path, name string) (answer string, alive bool, err error) {
	reader := bufio.NewReader(conn)
	for gone := 0; ; {
		conn.SetReadDeadline(time.Now().Add(livenessInterval))
		var part string
		part, err = reader.ReadString('\n')
		answer += part // what came before a deadline is part of the answer
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return answer, true, err
		}
		// A socket gone meanwhile is an ending monitor's, which answers what it has begun, or
		// one's that puts it back soon; the connection in hand tells if it dies.
		if err = probeMonitor(path); monitorGone(err) {
			if gone++; time.Duration(gone)*livenessInterval > 4*healInterval {
				debugf("the monitor's socket stays gone: %v", err)
				return "", false, nil
			}
			continue
		} else if err != nil {
			return "", false, failf(exitUnknown, "the monitor of '%s' does not answer: %v",
				name, err)
		}
		gone = 0
		debugf("the monitor is alive; waiting on")
	}
}

// monitorGone tells whether err says that no monitor is there: no socket, nobody listening, or
// one just ended (the kernel resets the connections its closed listener had not accepted).
func monitorGone(err error) bool {
	gone := []error{syscall.ENOENT, syscall.ECONNREFUSED, io.EOF, syscall.ECONNRESET, syscall.EPIPE}
	return slices.ContainsFunc(gone, func(g error) bool { return errors.Is(err, g) })
}

// ---------------------------------------------------------------------------
// Monitor.

const (
	maxLinger       = 86400 // seconds
	maxRestartDelay = 30 * time.Second
	healInterval    = 3 * time.Second // how often a monitor checks for its socket and lock file
)

// monitorState is where a monitor is in its process's life.
type monitorState int

const (
	running    monitorState = iota
	stopping                // the stop signal was sent; SIGKILL at the deadline
	ending                  // the process exited; what is left of its group is being ended
	restarting              // waiting to start the process again
	lingering               // the process exited for good; answering until the deadline
	closing                 // answering the requests in flight, and no more
)

// monitor runs one process, again when its restart policy says so. The
// fields after events belong to the loop goroutine alone.
type monitor struct {
	name           string
	o              options
	argv, health   []string
	watch          *logWatch // --health-log
	sock, lockPath string
	logOut         *os.File    // the monitor log, and the process's output by default
	stdout, stderr *os.File    // open for the monitor's life: a restarted process writes on
	events         chan func() // run by the loop, one at a time

	state       monitorState
	lock        *os.File // flocked until the process has exited for good
	listeners   []net.Listener
	sockInfo    os.FileInfo // the socket this monitor bound, to tell it from a newer monitor's
	run         *childRun   // the current or last run
	restarts    int
	delay       time.Duration // before the next restart
	stopped     bool          // a stop came: no restart follows
	quit        bool          // a signal came: no linger
	stopSignal  syscall.Signal
	timer       *time.Timer
	due         time.Time       // when timer is due; while stopping, the stop's deadline
	waiters     []chan response // stops that wait for the process to exit
	inFlight    int             // requests begun and not yet ended
	checks      context.Context // of the health checks, ended when a stop begins
	endChecks   context.CancelFunc
	healthKnown bool
	healthLast  int
	healthErr   string // why the last health check failed
	quietUntil  time.Time
	suppressed  int // lines about dropped connections left out since the last
}

type childRun struct {
	pid        int
	exited     chan struct{} // closed by the loop once the process has been reaped
	returncode int
	logStart   []int64 // the output files' sizes when it started, for --health-log
}

const logTime = "2006-01-02T15:04:05.000Z"

func (m *monitor) logf(format string, args ...any) {
	fmt.Fprintf(m.logOut, "%s procdog[%d] %s: %s\n", time.Now().UTC().Format(logTime),
		os.Getpid(), m.name, fmt.Sprintf(format, args...))
}

// savedGOMAXPROCS carries the user's GOMAXPROCS past the monitor, which runs
// with GOMAXPROCS=1 to save memory (see spawnMonitor).
const savedGOMAXPROCS = "PROCDOG_GOMAXPROCS"

// monitorSignals are caught from the start: a shell's background job ignores
// SIGINT and SIGQUIT, and exec passes on an ignored signal, not a caught one.
var monitorSignals = []os.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGHUP}

// runMonitor is the monitor's main: NAME, the state directory, the options
// as flags. Its first answer goes to fd 3, a pipe the spawning client reads.
func runMonitor(args []string) int {
	os.Unsetenv("GOMAXPROCS")
	if v, ok := os.LookupEnv(savedGOMAXPROCS); ok {
		os.Setenv("GOMAXPROCS", v)
		os.Unsetenv(savedGOMAXPROCS)
	}
	sigs := make(chan os.Signal, len(monitorSignals))
	signal.Notify(sigs, monitorSignals...)
	syscall.CloseOnExec(3) // the process must not hold the client's pipe open
	ready := os.NewFile(3, "ready")
	answerClient := func(r response) {
		fmt.Fprintln(ready, r)
		ready.Close()
	}
	m, err := newMonitor(args)
	if err != nil {
		answerClient(errorResponse("%v", err))
		return exitUnknown
	}
	m.logf("monitor starting with options: %s", m.o.summary())
	if err := m.setUp(); err == errLockBusy {
		m.logf("another monitor owns '%s'; exiting", m.name)
		answerClient(newResponse(codeBusy))
		return exitOK
	} else if err != nil {
		answerClient(errorResponse("%v", err))
		return exitError
	}
	// In flight from the start, so that a process that exits at once cannot
	// take the monitor away before the first answer is given.
	m.inFlight = 1
	go func(exited chan struct{}) {
		select {
		case <-exited:
		case <-time.After(seconds(m.o.Settle)):
		}
		answerClient(m.status())
		m.events <- m.end
	}(m.run.exited)
	m.loop(sigs)
	m.closeSocket()
	m.logf("monitor exiting")
	return exitOK
}

func newMonitor(args []string) (*monitor, error) {
	if len(args) < 2 {
		return nil, errors.New("a monitor needs a name and a state directory")
	}
	o, err := optionsFromFlags(args[2:])
	if err != nil {
		return nil, fmt.Errorf("bad monitor options: %v", err)
	}
	m := &monitor{name: args[0], o: o, logOut: os.Stderr, events: make(chan func()),
		timer: time.NewTimer(time.Hour), delay: min(seconds(o.RestartDelay), maxRestartDelay)}
	m.timer.Stop()
	m.sock, m.lockPath = statePath(args[1], m.name, "sock"), statePath(args[1], m.name, "lock")
	if o.HealthLog != "" {
		pattern, err := regexp.Compile(o.HealthLog)
		if err != nil {
			return nil, err
		}
		logPath := statePath(args[1], m.name, "log")
		paths := []string{orDefault(o.Stdout, logPath), orDefault(o.Stderr, logPath)}
		m.watch = &logWatch{pattern: pattern, name: m.name, asks: make(chan logAsk),
			paths: slices.Compact(paths)}
		go m.watch.serve()
	}
	return m, nil
}

// setUp takes the lock (or fails with errLockBusy) and starts the first run;
// once it has the lock, a failure leaves nothing behind but a line in the log.
func (m *monitor) setUp() (err error) {
	if m.lock, err = acquireLock(m.lockPath); err != nil {
		return err
	}
	if err = m.prepare(); err == nil {
		err = m.putSocket(m.startRun)
	}
	if err != nil {
		if m.run != nil {
			syscall.Kill(-m.run.pid, syscall.SIGKILL)
		}
		m.closeFiles()
		releaseLock(m.lock)
		m.logf("%v", err)
	}
	return err
}

// prepare splits the commands and opens the output files, checking all it can.
func (m *monitor) prepare() (err error) {
	o := m.o
	if m.argv, err = o.commandArgs(); err != nil {
		return err
	}
	if m.health, err = o.healthArgs(); err != nil {
		return err
	}
	// Else every answer would be an error while the process ran unwatched.
	if len(m.health) > 0 {
		if _, err := m.findInDir(m.health[0]); err != nil {
			return fmt.Errorf("Failed to run health command: %s", describeExecError(err))
		}
	}
	// Each run opens its input afresh: checked before the outputs are truncated.
	stdin, err := openInput(o.Stdin)
	if err != nil {
		return err
	}
	stdin.Close()
	if m.stdout, m.stderr, err = openOutputs(o, m.logOut); err != nil {
		return err
	}
	header := fmt.Sprintf("procdog: %s Starting process '%s' with options: %s\n",
		time.Now().UTC().Format("2006-01-02T15:04:05Z"), m.name, o.summary())
	for i, f := range []*os.File{m.stdout, m.stderr} {
		fi, err := f.Stat()
		regular := err == nil && fi.Mode().IsRegular()
		if m.watch != nil && !regular {
			return fmt.Errorf("--health-log reads the process's output, "+
				"and %s is not a regular file", f.Name())
		}
		// Not the monitor log, one header in a shared file, none in a FIFO
		// whose reader may not read yet.
		if f != m.logOut && (i == 0 || f != m.stdout) && regular {
			if !o.Append {
				f.Truncate(0)
			}
			io.WriteString(f, header)
		}
	}
	return nil
}

func (m *monitor) closeFiles() {
	for _, f := range []*os.File{m.stdout, m.stderr} {
		if f != nil && f != m.logOut {
			f.Close()
		}
	}
}

// putSocket binds the socket under a temporary name, calls start and renames
// it into place: a client that finds the socket finds a process, and clients
// see the old socket or the new one, never none.
func (m *monitor) putSocket(start func() error) (err error) {
	newSock := m.sock + newSocketSuffix
	os.Remove(newSock)
	ln, err := listenUnix(newSock)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %v", newSock, err)
	}
	defer func() {
		if err != nil {
			ln.Close()
			os.Remove(newSock)
		}
	}()
	if err := start(); err != nil {
		return err
	}
	if err := os.Rename(newSock, m.sock); err != nil {
		return fmt.Errorf("cannot put the socket in place: %v", err)
	}
	fi, err := os.Lstat(m.sock)
	if err != nil {
		return fmt.Errorf("cannot find the socket: %v", err)
	}
	m.sockInfo, m.listeners = fi, append(m.listeners, ln)
	go m.accept(ln)
	return nil
}

// closeSocket stops listening, and removes the socket if it is still the one
// this monitor bound. Only a lock holder puts a socket in place: if the lock
// is taken, a newer monitor owns the name and the socket.
func (m *monitor) closeSocket() {
	for _, ln := range m.listeners {
		ln.Close()
	}
	if lock, err := acquireLock(m.lockPath); err == nil {
		if stillAt(m.sock, m.sockInfo) {
			os.Remove(m.sock)
		}
		releaseLock(lock)
	}
}

// loop alone changes the monitor's state, one event at a time, so nothing
// needs a lock. Other goroutines do what takes time (health checks, reaping,
// ending a group, connections) and send the loop a func to run on its result.
func (m *monitor) loop(sigs <-chan os.Signal) {
	heal := time.NewTicker(healInterval)
	defer heal.Stop()
	for m.state != closing || m.inFlight > 0 {
		select {
		case f := <-m.events:
			f()
		case sig := <-sigs:
			m.signalled(sig)
		case <-m.timer.C:
			m.timeout()
		case <-heal.C:
			m.heal()
		}
	}
}

// do runs f on the loop and returns once it has run.
func (m *monitor) do(f func()) {
	done := make(chan struct{})
	m.events <- func() {
		f()
		close(done)
	}
	<-done
}

func (m *monitor) end() { m.inFlight-- }

// arm sets the one deadline of the state.
func (m *monitor) arm(at time.Time) {
	m.due = at
	m.timer.Reset(time.Until(at))
}

func (m *monitor) timeout() {
	if time.Now().Before(m.due) {
		return // a tick the timer sent before it was set again
	}
	switch m.state {
	case stopping:
		m.logf("process %d outlived the stop timeout; sending SIGKILL to its group", m.run.pid)
		m.stopSignal = syscall.SIGKILL
		syscall.Kill(-m.run.pid, syscall.SIGKILL)
	case restarting:
		if err := m.startRun(); err != nil {
			m.logf("not restarting: %v", err)
			m.linger()
		} else {
			m.restarts++
		}
	case lingering:
		m.state = closing
	}
}

func (m *monitor) response() response {
	r := newResponse(codeExited, "returncode", m.run.returncode)
	if m.state == running || m.state == stopping {
		r = newResponse(codeRunning, "pid", m.run.pid)
	}
	if m.restarts > 0 {
		r.values["restarts"] = m.restarts
	}
	return r
}

// stop signals the whole process group, so that a shell's children end too,
// and answers once the process has exited, SIGKILLed at the stop timeout if
// need be: a stop always ends, and is for good. answer has room for the one
// answer, which nobody need read.
func (m *monitor) stop(answer chan response) {
	m.stopped = true
	switch m.state {
	case running:
		m.stopSignal, _ = parseSignal(string(m.o.StopSignal))
		m.state = stopping
		m.arm(time.Now().Add(seconds(m.o.StopTimeout)))
		// Ended, so that a start that waits on one acts on Ctrl-C at once.
		m.endChecks()
		fallthrough
	case stopping:
		signalGroup(m.run.pid, m.stopSignal)
		m.waiters = append(m.waiters, answer)
		return
	case restarting:
		m.linger()
	}
	answer <- m.response()
}

// signalled stops the process and ends the monitor, lingering or not. The
// monitor has no terminal, so a SIGHUP can only be a stray one.
func (m *monitor) signalled(sig os.Signal) {
	if sig == syscall.SIGHUP || m.quit {
		return
	}
	m.quit = true
	m.logf("received %v: stopping the process", sig)
	if m.state == lingering {
		m.state = closing
	} else {
		m.stop(make(chan response, 1))
	}
}

// exited answers the stops that wait, and ends what is left of the group as
// a stop would: it would hold the process's port or files unwatched. The
// group id stays reserved while any member lives, so this hits no one else.
func (m *monitor) exited(r *childRun, code int) {
	r.returncode = code
	close(r.exited)
	m.logf("process exited: returncode=%d", code)
	m.state = ending
	m.checks, m.endChecks = context.WithCancel(context.Background())
	for _, w := range m.waiters {
		killed := m.response()
		killed.code = codeKilled
		delete(killed.values, "returncode")
		killed.values["signal"] = int(m.stopSignal)
		w <- killed
	}
	m.waiters = nil
	sig, deadline := syscall.Signal(0), m.due // a stop sent its signal already
	if m.stopSignal == 0 {
		sig, _ = parseSignal(string(m.o.StopSignal))
		deadline = time.Now().Add(seconds(m.o.StopTimeout))
	}
	go func() {
		if syscall.Kill(-r.pid, 0) == nil {
			if sig != 0 {
				m.logf("process group %d outlived its leader; sending signal %d", r.pid, sig)
				signalGroup(r.pid, sig)
			}
			if !awaitGroupEnd(r.pid, deadline) {
				m.logf("process group %d outlived the stop timeout; sending SIGKILL", r.pid)
				syscall.Kill(-r.pid, syscall.SIGKILL)
			}
		}
		m.events <- m.afterRun
	}()
}

// afterRun restarts the process as its policy says, after a doubling delay.
func (m *monitor) afterRun() {
	failed := m.run.returncode != 0
	due := !m.stopped && (m.o.Restart == "always" || m.o.Restart == "on-failure" && failed)
	if due && m.restarts >= m.o.MaxRestarts {
		m.logf("not restarting: %d restarts were allowed", m.o.MaxRestarts)
	} else if due {
		m.logf("restarting in %v", m.delay)
		m.state = restarting
		m.arm(time.Now().Add(m.delay))
		m.delay = min(2*m.delay, maxRestartDelay)
		return
	}
	m.linger()
}

// linger lets a new start begin, and answers for the linger time.
func (m *monitor) linger() {
	releaseLock(m.lock)
	m.lock = nil
	m.closeFiles()
	m.state = lingering
	if m.quit {
		m.state = closing
	} else {
		m.arm(time.Now().Add(seconds(m.o.Linger)))
	}
}

// startRun starts the process as the leader of a new process group, so that
// a stop or a signal reaches everything it starts, and a goroutine to reap it.
func (m *monitor) startRun() error {
	path, err := m.findInDir(m.argv[0])
	if err != nil {
		return fmt.Errorf("Failed to start: %s", describeExecError(err))
	}
	stdin, err := openInput(m.o.Stdin)
	if err != nil {
		return err
	}
	defer stdin.Close()
	r := &childRun{exited: make(chan struct{})}
	if m.watch != nil {
		r.logStart = m.watch.sizes()
	}
	cmd := m.command(context.Background(), path, m.argv)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, m.stdout, m.stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("Failed to start: %s", describeExecError(err))
	}
	r.pid = cmd.Process.Pid
	m.recordRun(r.pid)
	go func() {
		cmd.Wait()
		m.events <- func() { m.exited(r, exitCode(cmd.ProcessState)) }
	}()
	m.run, m.state = r, running
	m.checks, m.endChecks = context.WithCancel(context.Background())
	m.logf("started pid %d: %q", r.pid, m.argv)
	return nil
}

// recordRun notes the process in the lock file, for findOrphan. Best effort.
func (m *monitor) recordRun(pid int) {
	m.lock.Truncate(0)
	m.lock.WriteAt([]byte(fmt.Sprintf("pid=%d start=%s\n", pid, processStart(pid))), 0)
}

// command runs argv, argv[0] found at path, as the process runs: in its
// directory and environment, leading a new process group.
func (m *monitor) command(ctx context.Context, path string, argv []string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, path)
	cmd.Args, cmd.Dir, cmd.Env = argv, m.o.Dir, m.environ()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

// findInDir finds the executable name as seen from the process's directory.
func (m *monitor) findInDir(name string) (string, error) {
	if fi, err := os.Stat(orDefault(m.o.Dir, ".")); err != nil || !fi.IsDir() {
		return "", fmt.Errorf("directory %s is gone", m.o.Dir)
	}
	return findExecutable(name, m.o.Dir)
}

// environ is the monitor's environment (the client's), with PWD set as a
// shell sets it and the --env variables, the later of two for one name winning.
func (m *monitor) environ() []string {
	env := os.Environ()
	added, _ := m.o.Env.vars() // checked when the options were set
	if pwd, err := filepath.Abs(m.o.Dir); err == nil && m.o.Dir != "" {
		added = append([]string{"PWD=" + pwd}, added...)
	}
	for _, kv := range added {
		key, _, _ := strings.Cut(kv, "=")
		env = slices.DeleteFunc(env, func(kv string) bool { return strings.HasPrefix(kv, key+"=") })
		env = append(env, kv)
	}
	return env
}

// heal puts back the lock file and socket removed under a running process (a
// tmp cleaner, a careless rm): else clients would start a second copy.
func (m *monitor) heal() {
	if m.lock == nil {
		return
	}
	if fi, err := m.lock.Stat(); err != nil || !stillAt(m.lockPath, fi) {
		if lock, err := acquireLock(m.lockPath); err != nil {
			m.logf("cannot put the lock file back: %v", err)
		} else {
			m.lock.Close()
			m.lock = lock
			m.recordRun(m.run.pid)
			m.logf("put the lock file back")
		}
	}
	if _, err := os.Lstat(m.sock); !errors.Is(err, os.ErrNotExist) {
		return
	}
	if err := m.putSocket(func() error { return nil }); err != nil {
		m.logf("cannot put the socket back: %v", err)
	} else {
		m.logf("put the socket back")
	}
}

// logDropped logs why a connection was dropped, at most once a second: a
// flood of bad clients must not fill the disk.
func (m *monitor) logDropped(why string) {
	if time.Now().Before(m.quietUntil) {
		m.suppressed++
		return
	}
	if m.suppressed > 0 {
		why += fmt.Sprintf(" (and %d such lines left out before)", m.suppressed)
	}
	m.suppressed, m.quietUntil = 0, time.Now().Add(time.Second)
	m.logf("%s", why)
}

// noteHealth keeps why the check failed, for health-error, and logs changes.
func (m *monitor) noteHealth(health int, why string) {
	why = strings.NewReplacer("\n", " ", "\r", " ").Replace(why)
	changed := !m.healthKnown || health != m.healthLast
	m.healthKnown, m.healthLast, m.healthErr = true, health, why
	switch {
	case !changed:
	case health == 0:
		m.logf("health check passed")
	default:
		m.logf("health check failed (health=%d): %s", health, why)
	}
}

// Connections are served in goroutines of their own, so that one slow
// health check or silent client delays nobody else.
func (m *monitor) accept(ln net.Listener) {
	backoff := 10 * time.Millisecond
	for {
		conn, err := ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		} else if err != nil {
			// Out of descriptors, say: give the handlers time to free some.
			m.events <- func() { m.logDropped("accept: " + err.Error()) }
			time.Sleep(backoff)
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 10 * time.Millisecond
		go m.serve(conn)
	}
}

func (m *monitor) serve(conn net.Conn) {
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(requestDeadline))
	line, err := bufio.NewReaderSize(conn, maxRequestLine).ReadSlice('\n')
	if err != nil && !(errors.Is(err, io.EOF) && len(line) > 0) {
		why := "dropped a connection: " + err.Error()
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			why = fmt.Sprintf("dropped a connection that sent no request within %v",
				requestDeadline)
		case errors.Is(err, bufio.ErrBufferFull):
			why = fmt.Sprintf("dropped a connection whose request is longer than %d bytes",
				maxRequestLine)
		case errors.Is(err, io.EOF):
			return
		}
		m.events <- func() { m.logDropped(why) }
		return
	}
	req := strings.TrimSpace(string(line))
	// options is answered even after the linger, to tell a monitor at work
	// from a wedged one, and not logged: logs asks for it, and would print it.
	answer := m.o.quotedFlags()
	if req != "options" {
		var closed bool
		m.do(func() {
			closed = m.state == closing
			m.inFlight++
		})
		defer func() { m.events <- m.end }()
		if closed {
			return // the client reads end of file: this monitor has ended
		}
		// A client that gave up (timeout, Ctrl-C) must find nothing done later
		// in its name.
		verb, _, _ := strings.Cut(req, " ")
		if (verb == "stop" || verb == "signal") && clientGone(conn) {
			m.logf("request %q: not acted on, its client has gone", req)
			return
		}
		answer = m.answer(req)
		m.logf("request %q: %s", req, answer)
	}
	conn.SetWriteDeadline(time.Now().Add(requestDeadline))
	io.WriteString(conn, answer+"\n")
}

// clientGone tells whether the process at the other end of conn is known gone.
func clientGone(conn net.Conn) bool {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return false
	}
	pid, _, err := peerCred(sc)
	return err == nil && pid > 0 && errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

// answer answers status (or ""), wait, stop, "signal SIG" and health-error.
func (m *monitor) answer(req string) string {
	verb, arg, _ := strings.Cut(req, " ")
	sig, sigErr := parseSignal(arg)
	switch {
	case req == "" || req == "status":
		return m.status().String()
	case req == "wait":
		return m.wait().String()
	case req == "stop":
		answer := make(chan response, 1)
		m.events <- func() { m.stop(answer) }
		return (<-answer).String()
	case req == "health-error":
		var why string
		m.do(func() { why = m.healthErr })
		return why
	case verb == "signal" && sigErr == nil:
		m.do(func() {
			if m.state == running || m.state == stopping {
				m.logf("sending signal %d to process group %d", sig, m.run.pid)
				syscall.Kill(-m.run.pid, sig)
			}
		})
		return m.status().String()
	}
	return newResponse(codeInvalid).String()
}

// status is the state, with a health check run now if there is one; the
// state is taken after it, so a process that exited meanwhile is not running.
func (m *monitor) status() (r response) {
	var run *childRun
	var checks context.Context
	m.do(func() { r, run, checks = m.response(), m.run, m.checks })
	if m.o.healthKinds() == 0 {
		return r
	}
	health, why, err := m.checkHealth(run, checks)
	if err != nil {
		return errorResponse("%v", err)
	}
	m.do(func() {
		m.noteHealth(health, why)
		r = m.response()
		r.values["health"] = health
	})
	return r
}

// wait runs the health check up to HealthCount times, HealthDelay apart,
// until it passes or the process exits; at least once, to know.
func (m *monitor) wait() response {
	r := m.status()
	for i := 1; i < m.o.HealthCount && r.code == codeRunning && !r.healthy(); i++ {
		var exited chan struct{}
		m.do(func() { exited = m.run.exited })
		select {
		case <-exited:
		case <-time.After(seconds(m.o.HealthDelay)):
		}
		r = m.status()
	}
	return r
}

// Health checks. Each runs in the goroutine of the request that asked for
// it, bounded by the health timeout, so that no check can hang a monitor.

// checkHealth runs the health check of run r and says why it failed; checks
// ends when a stop begins.
func (m *monitor) checkHealth(r *childRun, checks context.Context) (int, string, error) {
	timeout := seconds(m.o.HealthTimeout)
	var why string
	switch {
	case m.o.HealthURL != "" || m.o.HealthTCP != "":
		why = probe(m.o.HealthURL, m.o.HealthTCP, timeout)
	case m.watch != nil:
		answer := make(chan bool, 1)
		m.watch.asks <- logAsk{r, time.Now().Add(timeout), answer}
		if !<-answer {
			why = "no line has matched " + m.o.HealthLog + " since the process started"
		}
	default:
		return m.runHealthCommand(checks, timeout)
	}
	if why != "" {
		return 1, why, nil
	}
	return 0, "", nil
}

// runHealthCommand runs the health command as the process runs, its output
// on the monitor log, its group killed at the timeout or when a stop begins.
func (m *monitor) runHealthCommand(checks context.Context, timeout time.Duration) (
	int, string, error) {
	if checks.Err() != nil {
		return -9, "health command not run: the process is being stopped", nil
	}
	path, err := m.findInDir(m.health[0])
	if err != nil {
		return 0, "", fmt.Errorf("Failed to run health command: %s", describeExecError(err))
	}
	ctx, cancel := context.WithTimeout(checks, timeout)
	defer cancel()
	cmd := m.command(ctx, path, m.health)
	stderr := &lastLine{log: m.logOut}
	cmd.Stdout, cmd.Stderr = m.logOut, stderr
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 100 * time.Millisecond // for a child that holds its stderr open
	if err := cmd.Start(); err != nil {
		return 0, "", fmt.Errorf("Failed to run health command: %s", describeExecError(err))
	}
	cmd.Wait()
	// What it left running in its group would outlive the monitor.
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	health, why := exitCode(cmd.ProcessState), ""
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		m.logf("health check killed after %gs", m.o.HealthTimeout)
		why = fmt.Sprintf("health command killed after %gs", m.o.HealthTimeout)
	}
	return health, healthCommandFailure(health, why, stderr.String()), nil
}

// healthCommandFailure says how a health command failed, with its last line on stderr.
func healthCommandFailure(health int, why, lastLine string) string {
	if health == 0 {
		return ""
	} else if why == "" && health < 0 {
		why = fmt.Sprintf("health command ended by signal %d", -health)
	} else if why == "" {
		why = fmt.Sprintf("health command exited with %d", health)
	}
	if lastLine != "" {
		why += ": " + lastLine
	}
	return why
}

// lastLine passes a health command's stderr on to the log and keeps the first
// 200 bytes of its last non-blank line. A log that cannot be written (a full
// disk) must not stop the reading, or the command would die of SIGPIPE.
type lastLine struct {
	log        io.Writer
	line, last []byte
}

func (l *lastLine) Write(p []byte) (int, error) {
	l.log.Write(p)
	for _, c := range p {
		if c == '\n' {
			l.endLine()
		} else if len(l.line) < 200 {
			l.line = append(l.line, c)
		}
	}
	return len(p), nil
}

func (l *lastLine) endLine() {
	if t := bytes.TrimSpace(l.line); len(t) > 0 {
		l.last = append(l.last[:0], t...)
	}
	l.line = l.line[:0]
}

func (l *lastLine) String() string {
	l.endLine()
	if len(l.last) >= 200 {
		return string(l.last) + "..."
	}
	return string(l.last)
}

// probeFailure says why a probe of addr failed, a timeout in words.
func probeFailure(addr string, err error, timeout time.Duration) string {
	var ne net.Error
	var oe *net.OpError
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return fmt.Sprintf("no answer within %v", timeout)
	case errors.As(err, &oe) && oe.Op == "dial":
		var se *os.SyscallError
		if errors.As(err, &se) {
			err = se.Err // "connection refused", not "dial tcp ...: connect: ..."
		}
		return "connect " + addr + ": " + err.Error()
	}
	return err.Error()
}

// probe connects to addr, or GETs rawURL, within the timeout, and says why
// that failed or did not answer 2xx or 3xx. It speaks just enough HTTP/1.0
// for a status line: net/http's start-up cost would land on every command.
func probe(rawURL, addr string, timeout time.Duration) string {
	deadline := time.Now().Add(timeout)
	u, err := url.Parse(rawURL)
	if err != nil {
		return err.Error()
	}
	if rawURL != "" {
		addr = u.Host
		if u.Port() == "" {
			addr += ":80"
		}
	}
	conn, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return probeFailure(addr, err, timeout)
	}
	defer conn.Close()
	if rawURL == "" {
		return ""
	}
	conn.SetDeadline(deadline)
	fmt.Fprintf(conn, "GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: procdog/%s\r\n\r\n",
		u.RequestURI(), u.Host, version)
	// Only the status line is read, so that a monitor's memory stays flat.
	status, err := bufio.NewReader(io.LimitReader(conn, maxStatusLine)).ReadString('\n')
	if err != nil {
		return "GET " + rawURL + ": no HTTP status line: " + probeFailure(addr, err, timeout)
	}
	fields := strings.Fields(status) // "HTTP/1.1 200 OK"
	if len(fields) < 2 || !strings.HasPrefix(fields[0], "HTTP/") {
		return "GET " + rawURL + ": not an HTTP status line"
	}
	if code, err := strconv.Atoi(fields[1]); err == nil && code >= 200 && code < 400 {
		return ""
	}
	return "GET " + rawURL + ": HTTP status " + strings.Join(fields[1:], " ")
}

// logWatch is the --health-log check: healthy once a line that the process
// wrote to its output files in this run has matched. Its goroutine, serve,
// answers the checks one at a time, each reading on where the last stopped.
type logWatch struct {
	pattern *regexp.Regexp
	name    string   // NAME's monitors' lines in the monitor log are not the process's
	paths   []string // the process's stdout and stderr, or the one file of both
	asks    chan logAsk

	run     *childRun // whose output is read
	offsets []int64   // how far each file has been read, to the end of a line
	carry   [][]byte  // the start of a line that a monitor's line cut in two
	matched bool
}

// A logAsk asks whether a line of run's output has matched, reading until the
// deadline at most: a costly pattern must not make a check outlast its timeout.
type logAsk struct {
	run      *childRun
	deadline time.Time
	answer   chan bool
}

// sizes are the output files' sizes: where a run's output begins.
func (w *logWatch) sizes() []int64 {
	sizes := make([]int64, len(w.paths))
	for i, p := range w.paths {
		if fi, err := os.Stat(p); err == nil {
			sizes[i] = fi.Size()
		}
	}
	return sizes
}

func (w *logWatch) serve() {
	for ask := range w.asks {
		if ask.run != w.run {
			w.run, w.matched = ask.run, false
			w.offsets, w.carry = slices.Clone(ask.run.logStart), make([][]byte, len(w.paths))
		}
		for i := 0; i < len(w.paths) && !w.matched; i++ {
			w.readOn(i, ask.deadline)
		}
		ask.answer <- w.matched
	}
}

// readOn reads file i on. A line without its newline yet is left for the
// next check, unless it is too long to wait for.
func (w *logWatch) readOn(i int, deadline time.Time) {
	f, err := os.OpenFile(w.paths[i], os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() < w.offsets[i] {
		w.offsets[i], w.carry[i] = 0, nil // truncated: read from the start
	}
	// A line longer than the buffer is matched in pieces.
	r := bufio.NewReaderSize(io.NewSectionReader(f, w.offsets[i], 1<<62), 64<<10)
	for !w.matched && time.Now().Before(deadline) {
		line, err := r.ReadSlice('\n')
		if err != nil && err != bufio.ErrBufferFull {
			return
		}
		w.offsets[i] += int64(len(line))
		line = bytes.TrimSuffix(line, []byte("\n"))
		if j := monitorLineAt(line, w.name); j >= 0 {
			// Written into a line of the process's, which goes on in the next.
			w.carry[i] = append(w.carry[i], line[:j]...)
			continue
		}
		w.matched = w.pattern.Match(append(w.carry[i], line...))
		w.carry[i] = nil
	}
}

// monitorLineAt is where in line a line that logf wrote for a monitor of
// name begins, "TIME procdog[PID] NAME: ...", or -1.
func monitorLineAt(line []byte, name string) int {
	for at := len(logTime); at < len(line); at++ {
		i := bytes.Index(line[at:], []byte(" procdog["))
		if i < 0 {
			return -1
		}
		at += i
		rest := line[at+len(" procdog["):]
		digits := len(rest) - len(bytes.TrimLeft(rest, "0123456789"))
		if digits > 0 && bytes.HasPrefix(rest[digits:], []byte("] "+name+": ")) {
			return at - len(logTime)
		}
	}
	return -1
}

// signalGroup sends sig to process group pgid, and SIGCONT for a stopped one.
func signalGroup(pgid int, sig syscall.Signal) {
	syscall.Kill(-pgid, sig)
	syscall.Kill(-pgid, syscall.SIGCONT)
}

// awaitGroupEnd says whether process group pgid is gone by deadline, polling,
// for its members need not be the caller's children.
func awaitGroupEnd(pgid int, deadline time.Time) bool {
	for time.Now().Before(deadline) && syscall.Kill(-pgid, 0) == nil {
		time.Sleep(20 * time.Millisecond)
	}
	return syscall.Kill(-pgid, 0) != nil
}

// ---------------------------------------------------------------------------
// Export: a systemd unit or a launchd plist that runs NAME as start would,
// for a process that moves from a development machine to a server.

var exportFormats = []string{"systemd", "launchd"}

// exportJob is NAME as start would run it. Its executables are found on
// PATH now, because a service manager runs its services with its own PATH.
type exportJob struct {
	options
	name   string
	argv   []string // argv[0] is absolute
	health []string // the health command, argv[0] absolute, or none
	env    []string // what --env adds, as NAME=value
	notes  []string // what the format cannot say, for one warning line
	b      strings.Builder
	err    error // the first value that the format cannot hold
}

func runExport(cl commandLine, words []string, stdout, stderr io.Writer) error {
	switch {
	case !slices.Contains(exportFormats, words[0]):
		return usageErrorf("argument format: invalid choice: '%s' (choose from '%s')",
			words[0], strings.Join(exportFormats, "', '"))
	case !validName(words[1]):
		return usageErrorf("Invalid process name '%s'; must be alphanumeric, "+
			"with only underscores or dashes", words[1])
	}
	j, err := newExportJob(cl, words[1])
	if err != nil {
		return err
	}
	map[string]func(){"systemd": j.systemd, "launchd": j.launchd}[words[0]]()
	switch {
	case j.err != nil:
		return j.err
	case len(j.notes) > 0:
		fmt.Fprintf(stderr, "procdog: warning: the %s output does not express: %s (see its comments)\n",
			words[0], strings.Join(j.notes, "; "))
	}
	if j.Output != "" {
		return writeExport(j.Output, j.b.String())
	}
	_, err = io.WriteString(stdout, j.b.String())
	return err
}

// newExportJob refuses what start would refuse.
func newExportJob(cl commandLine, name string) (*exportJob, error) {
	o, err := resolveOptions(cl, name)
	if err != nil {
		return nil, err
	}
	if err := (client{name: name, command: "export"}).checkStartable(o); err != nil {
		return nil, err
	}
	if err := o.resolvePaths(); err != nil {
		return nil, err
	}
	argv, _ := o.commandArgs() // checkStartable has checked these three
	health, _ := o.healthArgs()
	env, _ := o.Env.vars()
	if argv[0], err = exportExecutable(argv[0], o.Dir); err != nil {
		return nil, failf(exitError, "Failed to start: %s", describeExecError(err))
	}
	if len(health) > 0 {
		if health[0], err = exportExecutable(health[0], o.Dir); err != nil {
			return nil, failf(exitError, "Failed to run health command: %s", describeExecError(err))
		}
	}
	for _, s := range append(append([]string{o.Stdin, o.Stdout, o.Stderr}, argv...), health...) {
		if strings.ContainsRune(s, 0) {
			return nil, failf(exitUnknown, "cannot export '%s': %q holds a NUL byte, "+
				"which no process can be given", name, s)
		}
	}
	return &exportJob{options: o, name: name, argv: argv, health: health, env: env}, nil
}

func exportExecutable(name, dir string) (string, error) {
	path, err := findExecutable(name, dir)
	if err == nil && !filepath.IsAbs(path) {
		path = filepath.Join(dir, path)
	}
	return filepath.Clean(path), err
}

// writeExport refuses all but the user's own regular file, opened without following
// a symbolic link or waiting on a FIFO, and truncates it only once checked.
func writeExport(path, text string) error {
	f, err := openChecked(path, os.O_WRONLY|os.O_CREATE|syscall.O_NOFOLLOW, 0o644, "write", "cannot write "+path,
		func(fi os.FileInfo) string {
			switch {
			case !fi.Mode().IsRegular():
				return "it is not a regular file"
			case fileOwner(fi) != os.Getuid():
				return fmt.Sprintf("it belongs to another user (uid %d)", fileOwner(fi))
			}
			return ""
		})
	if err != nil {
		return err
	}
	defer f.Close()
	if err = f.Truncate(0); err == nil {
		_, err = io.WriteString(f, text)
	}
	if err == nil {
		err = f.Close()
	}
	if err != nil {
		return failf(exitUnknown, "cannot write %s: %v", path, err)
	}
	return nil
}

func (j *exportJob) line(format string, args ...any) { fmt.Fprintf(&j.b, format+"\n", args...) }
func (j *exportJob) note(what string)                { j.notes = append(j.notes, what) }

func (j *exportJob) restarts() bool { return j.Restart != "no" && j.MaxRestarts > 0 }

func (j *exportJob) restartDelay() float64 { return min(j.RestartDelay, maxRestartDelay.Seconds()) }

// refuse keeps the first value the format cannot hold: writers need not check each line.
func (j *exportJob) refuse(bad bool, format string, args ...any) {
	if bad && j.err == nil {
		j.err = failf(exitUnknown, format, args...)
	}
}

func exportSeconds(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// exportWholeSeconds rounds up, for the keys that take integers.
func exportWholeSeconds(f float64) int {
	if n := int(f); float64(n) < f {
		return n + 1
	}
	return int(f)
}

// exportRestartWindow is the time procdog's doubling delays take, plus systemd's 10 s.
func exportRestartWindow(o options) int {
	limit := maxRestartDelay.Seconds()
	window, d, starts := 10.0, min(o.RestartDelay, limit), o.MaxRestarts+1
	for ; starts > 0 && d > 0 && d < limit; starts-- {
		window += d
		d = min(2*d, limit)
	}
	if d == limit {
		window += float64(starts) * limit
	}
	return exportWholeSeconds(window)
}

const systemdPlain = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./:,+=@%$"

var systemdEscapes = map[byte]string{'%': "%%", '$': "$$", '"': `\"`, '\\': `\\`, '\n': `\n`, '\t': `\t`}

// systemdQuote: systemd resolves %-specifiers in the whole Exec line and $VARIABLES in
// each word, so % and $ are doubled; any other byte not plain puts the word in double
// quotes, with C escapes: a raw newline or a lone ; would end the command.
func systemdQuote(w string) string {
	var b strings.Builder
	valid := utf8.ValidString(w)
	for i := 0; i < len(w); i++ {
		switch e, ok := systemdEscapes[w[i]]; {
		case ok:
			b.WriteString(e)
		case systemdControl(rune(w[i])) || w[i] >= 0x80 && !valid:
			fmt.Fprintf(&b, `\x%02x`, w[i])
		default:
			b.WriteByte(w[i])
		}
	}
	if w != "" && strings.Trim(w, systemdPlain) == "" {
		return b.String()
	}
	return `"` + b.String() + `"`
}

func quoteWords(argv []string, quote func(string) string) string {
	words := make([]string, len(argv))
	for i, w := range argv {
		words[i] = quote(w)
	}
	return strings.Join(words, " ")
}

func systemdControl(r rune) bool { return r < 0x20 || r == 0x7f }

// systemdText is one line, no specifiers, no backslash at its end (which joins the next).
func systemdText(s string) string {
	s = strings.Map(func(r rune) rune {
		if systemdControl(r) {
			return ' '
		}
		return r
	}, s)
	return strings.ReplaceAll(strings.TrimRight(s, `\ `), "%", "%%")
}

// systemdPath refuses a path that a unit file would read as another one.
func (j *exportJob) systemdPath(path string) string {
	j.refuse(strings.TrimSpace(path) != path || strings.HasSuffix(path, `\`) ||
		!utf8.ValidString(path) || strings.ContainsFunc(path, systemdControl),
		"cannot export the path %q: a unit file cannot hold it", path)
	return strings.ReplaceAll(path, "%", "%%")
}

// systemdSignal is a signal as KillSignal= takes it: SIGTERM, or a number.
func systemdSignal(s signalName) string {
	sig, _ := parseSignal(string(s))
	for name, v := range signalNames {
		if v == sig {
			return "SIG" + name
		}
	}
	return strconv.Itoa(int(sig))
}

func (j *exportJob) systemd() {
	j.line("# procdog export systemd %[1]s: runs %[1]s as `procdog start %[1]s` would.", j.name)
	j.line("# A user unit, for procdog needs no root. To install it:")
	j.line("#   cp THIS ~/.config/systemd/user/procdog-%s.service", j.name)
	j.line("#   systemctl --user daemon-reload && systemctl --user enable --now procdog-%s.service", j.name)
	j.line("\n[Unit]\nDescription=%s", systemdText("procdog "+j.name+": "+j.Command))
	if j.restarts() {
		j.line("# procdog restarts at most max_restarts=%d times; systemd counts starts in a window:",
			j.MaxRestarts)
		j.line("# these %d, in the time procdog's doubling delays take, plus 10 s. A process",
			j.MaxRestarts+1)
		j.line("# that fails more slowly than that is restarted again.")
		j.line("StartLimitIntervalSec=%d", exportRestartWindow(j.options))
		j.line("StartLimitBurst=%d", j.MaxRestarts+1)
	}
	j.line("\n[Service]")
	j.line("# exec: the start fails if the command cannot be run, as procdog's does.")
	j.line("Type=exec")
	j.line("ExecStart=%s", quoteWords(j.argv, systemdQuote))
	j.line("WorkingDirectory=%s", j.systemdPath(j.Dir))
	j.line("# procdog passes on the environment of the shell that starts it; a service gets")
	j.line("# the service manager's. Add Environment= lines for what the process needs.")
	for _, kv := range j.env {
		// Environment= expands specifiers (%) but not variables ($).
		j.line("Environment=%s", strings.ReplaceAll(systemdQuote(kv), "$$", "$"))
	}
	if j.Stdin != os.DevNull {
		j.line("StandardInput=file:%s", j.systemdPath(j.Stdin))
	}
	if j.Stdout == "" || j.Stderr == "" {
		j.line("# Output that procdog writes to its monitor log goes to the journal:")
		j.line("#   journalctl --user -u procdog-%s", j.name)
	}
	mode := map[bool]string{true: "append:", false: "truncate:"}[j.Append]
	for _, f := range [][2]string{{"StandardOutput", j.Stdout}, {"StandardError", j.Stderr}} {
		if f[1] == "" {
			j.line("%s=journal", f[0])
		} else {
			j.line("%s=%s%s", f[0], mode, j.systemdPath(f[1]))
		}
	}
	j.line("# Stop: the stop signal to every process the service started, then SIGKILL")
	j.line("# after the stop timeout, as procdog does to the process group.")
	j.line("KillMode=control-group\nKillSignal=%s", systemdSignal(j.StopSignal))
	// TimeoutStopSec=0 would mean no timeout at all, where procdog kills at once.
	j.line("TimeoutStopSec=%s", exportSeconds(max(j.StopTimeout, 0.001)))
	j.systemdRestart()
	j.systemdHealth()
	j.line("\n[Install]\nWantedBy=default.target")
}

// systemdRestart is the restart policy. A signal is a failure to procdog,
// but SIGHUP, SIGINT, SIGTERM and SIGPIPE are a clean exit to systemd.
func (j *exportJob) systemdRestart() {
	if !j.restarts() {
		j.line("Restart=no")
		return
	}
	j.line("Restart=%s\nRestartSec=%s", j.Restart, exportSeconds(j.restartDelay()))
	if j.Restart == "on-failure" {
		j.line("# procdog counts death by any signal as a failure.")
		j.line("RestartForceExitStatus=SIGHUP SIGINT SIGTERM SIGPIPE")
	}
	j.line("# procdog doubles the delay after each restart, up to 30 s; systemd 254 and")
	j.line("# later can too:")
	j.line("#RestartSteps=%d", j.MaxRestarts)
	j.line("#RestartMaxDelaySec=%s", exportSeconds(maxRestartDelay.Seconds()))
}

// systemdHealth is the health check as an ExecStartPost= loop of health_count tries.
func (j *exportJob) systemdHealth() {
	argv := j.healthArgv()
	if argv == nil {
		return
	}
	tries := max(j.HealthCount, 1)
	script := fmt.Sprintf("n=0; until %s; do n=$((n+1)); if [ $n -ge %d ]; then exit 1; fi; sleep %s; done",
		quoteWords(argv, shellQuote), tries, exportSeconds(j.HealthDelay))
	prefix := ""
	if j.EnsureHealthy {
		j.line("# The health check, as --ensure-healthy: the unit fails to start and its")
		j.line("# process is stopped unless a try passes within health_count=%d tries.", tries)
	} else {
		j.line("# procdog only reports the health check, in status; a unit has nowhere to.")
		j.line("# Uncomment to make the start fail unless healthy, as --ensure-healthy does.")
		j.note("the health check, which only procdog status reports (commented out)")
		prefix = "#"
	}
	j.line("%sExecStartPost=/bin/sh -c %s", prefix, systemdQuote(script))
	// The start may take every try, each to its timeout, and the delays.
	wait := exportWholeSeconds(float64(tries)*(j.HealthTimeout+j.HealthDelay)) + 10
	j.line("%sTimeoutStartSec=%d", prefix, wait)
}

// healthArgv is the health check as a unit's command, under timeout(1), or nil.
func (j *exportJob) healthArgv() []string {
	argv := j.health
	switch {
	case j.healthKinds() == 0:
		return nil
	case j.HealthURL != "":
		// 2xx and 3xx pass, as for procdog: -f fails on 4xx and 5xx and no
		// redirect is followed; -g keeps [] and {} literal; no proxy.
		if curl, err := exportExecutable("curl", j.Dir); err == nil {
			argv = []string{curl, "-fsS", "-g", "--noproxy", "*", "-o", os.DevNull, j.HealthURL}
		}
	case j.HealthTCP != "":
		host, port, _ := net.SplitHostPort(j.HealthTCP)
		n, _ := strconv.Atoi(port)
		if bash, err := exportExecutable("bash", j.Dir); err == nil {
			argv = []string{bash, "-c", "exec 3<>" + shellQuote(fmt.Sprintf("/dev/tcp/%s/%d", host, n))}
		}
	}
	timeout, err := exportExecutable("timeout", j.Dir)
	switch {
	case argv == nil:
		j.note("the health check (no curl or bash on PATH to run it)")
		return nil
	case j.HealthTimeout == 0:
		return argv
	case err != nil:
		j.note("health_timeout (no timeout command on PATH)")
		return argv
	}
	return append([]string{timeout, "-s", "KILL", exportSeconds(j.HealthTimeout)}, argv...)
}

// plistString refuses what XML cannot hold even escaped (most control characters,
// invalid UTF-8), and escapes \r, which a parser would turn into a newline.
func (j *exportJob) plistString(s string) string {
	control := func(r rune) bool { return r < 0x20 && !strings.ContainsRune("\t\n\r", r) }
	j.refuse(!utf8.ValidString(s) || strings.ContainsAny(s, "\uFFFE\uFFFF") ||
		strings.ContainsFunc(s, control), "cannot export %q: a plist cannot hold it", s)
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "\r", "&#13;").Replace(s)
}

// plistComment writes an XML comment, which may not hold "--".
func (j *exportJob) plistComment(format string, args ...any) {
	text := fmt.Sprintf(format, args...)
	for strings.Contains(text, "--") {
		text = strings.ReplaceAll(text, "--", "- -")
	}
	j.line("\t<!-- %s -->", text)
}

func (j *exportJob) plistKey(key, format string, args ...any) {
	j.line("\t<key>%s</key>\n\t"+format, append([]any{key}, args...)...)
}

func (j *exportJob) launchd() {
	j.line(`<?xml version="1.0" encoding="UTF-8"?>`)
	j.line(`<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" ` +
		`"http://www.apple.com/DTDs/PropertyList-1.0.dtd">`)
	j.line(`<plist version="1.0">` + "\n<dict>")
	j.plistComment("procdog export launchd %[1]s: runs %[1]s as `procdog start %[1]s` would.", j.name)
	j.plistComment("To install it: cp THIS ~/Library/LaunchAgents/procdog.%s.plist", j.name)
	j.plistComment("  launchctl bootstrap gui/$UID ~/Library/LaunchAgents/procdog.%s.plist", j.name)
	j.plistKey("Label", "<string>procdog.%s</string>", j.name)
	j.line("\t<key>ProgramArguments</key>\n\t<array>")
	for _, a := range j.argv {
		j.line("\t\t<string>%s</string>", j.plistString(a))
	}
	j.line("\t</array>")
	j.plistKey("WorkingDirectory", "<string>%s</string>", j.plistString(j.Dir))
	j.plistComment("procdog passes on the environment of the shell that starts it; launchd")
	j.plistComment("gives an agent its own. Add EnvironmentVariables for what the process needs.")
	if len(j.env) > 0 {
		j.line("\t<key>EnvironmentVariables</key>\n\t<dict>")
		for _, kv := range j.env {
			k, v, _ := strings.Cut(kv, "=")
			j.line("\t\t<key>%s</key>\n\t\t<string>%s</string>", j.plistString(k), j.plistString(v))
		}
		j.line("\t</dict>")
	}
	j.plistKey("RunAtLoad", "<true/>")
	if j.Stdin != os.DevNull {
		j.plistKey("StandardInPath", "<string>%s</string>", j.plistString(j.Stdin))
	}
	if j.Stdout == "" || j.Stderr == "" {
		j.plistComment("Output that procdog writes to its monitor log has no path: launchd drops it.")
	}
	if (j.Stdout != "" || j.Stderr != "") && !j.Append {
		j.plistComment("launchd appends to these files; procdog truncates them without append=true.")
		j.note("truncating the output files (launchd appends)")
	}
	for _, f := range [][2]string{{"StandardOutPath", j.Stdout}, {"StandardErrorPath", j.Stderr}} {
		if f[1] != "" {
			j.plistKey(f[0], "<string>%s</string>", j.plistString(f[1]))
		}
	}
	j.launchdStopAndRestart()
	if j.healthKinds() > 0 {
		j.plistComment("launchd has no health check: the one procdog runs is left out.")
		j.note("the health check")
	}
	j.line("</dict>\n</plist>")
}

// launchd has no stop signal but SIGTERM, no restart limit and no doubling delay.
func (j *exportJob) launchdStopAndRestart() {
	j.plistComment("Stop: SIGTERM, then SIGKILL after ExitTimeOut seconds; launchd also kills")
	j.plistComment("the job's process group when the job ends, as procdog does.")
	if sig := systemdSignal(j.StopSignal); sig != "SIGTERM" {
		j.plistComment("procdog's stop signal, %s, is not SIGTERM: launchd cannot send it.", sig)
		j.note("stop_signal=" + string(j.StopSignal))
	}
	j.plistKey("ExitTimeOut", "<integer>%d</integer>", max(exportWholeSeconds(j.StopTimeout), 1))
	if !j.restarts() {
		return
	}
	if j.Restart == "always" {
		j.plistKey("KeepAlive", "<true/>")
	} else {
		j.plistComment("Restarted unless it exits with status 0.")
		j.plistKey("KeepAlive", "<dict><key>SuccessfulExit</key><false/></dict>")
	}
	j.plistComment("procdog restarts at most max_restarts=%d times, after a delay that doubles",
		j.MaxRestarts)
	j.plistComment("up to 30 s; launchd restarts for ever, at most once per ThrottleInterval.")
	j.plistKey("ThrottleInterval", "<integer>%d</integer>", exportWholeSeconds(j.restartDelay()))
	j.note(fmt.Sprintf("max_restarts=%d", j.MaxRestarts))
}

// ---------------------------------------------------------------------------
// The protocol: responses, their JSON, and the exit codes.

// response is one line of the protocol: a code, then key=value pairs sorted
// by key ("running, health=0, pid=12"), or "error: MESSAGE".
type response struct {
	code        string
	msg         string         // for codeError
	values      map[string]int // pid, health, returncode, signal
	healthError string         // why the health check failed: for JSON alone, asked for apart
}

func newResponse(code string, kv ...any) response {
	r := response{code: code, values: map[string]int{}}
	for i := 0; i+1 < len(kv); i += 2 {
		r.values[kv[i].(string)] = kv[i+1].(int)
	}
	return r
}

func errorResponse(format string, args ...any) response {
	return response{code: codeError, msg: fmt.Sprintf(format, args...)}
}

func (r response) String() string {
	if r.code == codeError {
		// One line: a newline in a message would cut it short.
		return "error: " + strings.NewReplacer("\n", `\n`, "\r", `\r`).Replace(r.msg)
	}
	s := r.code
	for _, k := range slices.Sorted(maps.Keys(r.values)) {
		s += fmt.Sprintf(", %s=%d", k, r.values[k])
	}
	return s
}

// parseResponse reads a response line; what it does not understand is codeInvalid.
func parseResponse(line string) response {
	line = strings.TrimRight(line, "\r\n")
	if msg, ok := strings.CutPrefix(line, "error: "); ok {
		return response{code: codeError, msg: msg}
	}
	fields := strings.Split(line, ", ")
	r := newResponse(fields[0])
	codes := []string{codeRunning, codeExited, codeKilled, codeStopped, codeInvalid, codeBusy}
	if !slices.Contains(codes, r.code) {
		return response{code: codeInvalid}
	}
	for _, f := range fields[1:] {
		k, v, ok := strings.Cut(f, "=")
		n, err := strconv.Atoi(v)
		if !ok || err != nil || k == "" || strings.ContainsAny(k, " ,=") {
			return response{code: codeInvalid}
		}
		r.values[k] = n
	}
	return r
}

// healthy: running, and the health check passed if there is one.
func (r response) healthy() bool {
	h, checked := r.values["health"]
	return r.code == codeRunning && (!checked || h == 0)
}

// exitCodeFor is the table of exit codes: that of a command that printed r.
func exitCodeFor(command string, r response, o options) int {
	switch r.code {
	case codeError:
		return exitError
	case codeInvalid, codeBusy:
		return exitUnknown
	}
	switch command {
	case "wait": // is status --ensure-healthy
		o.EnsureHealthy = true
		fallthrough
	case "start", "restart", "status", "signal":
		switch {
		case o.EnsureHealthy && !r.healthy():
			return exitUnhealthy
		case r.code != codeRunning:
			return exitNotRunning
		}
		return exitOK
	case "stop":
		switch {
		case r.code == codeRunning:
			return exitUnknown
		case o.Strict && r.code != codeKilled:
			return exitNotRunning
		}
		return exitOK
	}
	return exitUnknown
}

// json is r as --json prints it: the name, the state, and the response's facts.
func (r response) json(name string) string {
	fields := map[string]any{"name": name, "state": r.code}
	for k, v := range r.values {
		fields[k] = v
	}
	if r.values["orphaned"] == 1 {
		fields["orphaned"] = true
	}
	if r.code == codeError {
		fields["error"] = r.msg
	}
	if r.healthError != "" {
		fields["health_error"] = r.healthError
	}
	return jsonText(fields)
}

// jsonText is v as JSON on one line. Bytes that are not UTF-8 become
// U+FFFD; <, > and & stay as they are, for a terminal, not a web page.
func jsonText(v any) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
	return strings.TrimSuffix(b.String(), "\n")
}

func printResponse(w io.Writer, name string, r response, asJSON bool) {
	if asJSON {
		fmt.Fprintln(w, r.json(name))
		return
	}
	fmt.Fprintln(w, r)
}

// ---------------------------------------------------------------------------
// Options.

// options: the defaults, under the config file, under the command line.
type options struct {
	Command, HealthCommand, HealthURL, HealthTCP, HealthLog               string
	Dir, Stdin, Stdout, Stderr, Restart, Config, Output                   string
	HealthCount, MaxRestarts, Lines                                       int
	HealthDelay, HealthTimeout, Linger, Settle, StopTimeout, RestartDelay float64
	EnsureHealthy, Append, Strict, Shell, Debug, JSON, Follow, All        bool
	StopSignal                                                            signalName
	Env                                                                   envList
}

func defaultOptions() options {
	return options{HealthCount: 5, HealthDelay: 1, HealthTimeout: 10, Stdin: os.DevNull, Linger: 3,
		Settle: 0.1, StopSignal: "TERM", StopTimeout: 10, Restart: "no", MaxRestarts: 5,
		RestartDelay: 1, Lines: 10}
}

// optionSpec defines an option once; its field in options has its name, less dashes, any case.
type optionSpec struct {
	long, short string
	inFile      bool // a config file may set it
	help        string
}

var optionSpecs = []optionSpec{
	{"command", "c", true, "the command line to run"},
	{"health-command", "", true, "command whose exit code is the health (0 = healthy)"},
	{"health-count", "", true, "how many health checks wait tries"},
	{"health-delay", "", true, "seconds between those tries"},
	{"health-timeout", "", true, "seconds before a health check is killed and counts as unhealthy"},
	{"ensure-healthy", "", true,
		"start waits for health, and stops the process if it never gets healthy"},
	{"dir", "", true, "where the process runs (default: the current directory)"},
	{"stdin", "", true, "file for standard input"},
	{"stdout", "", true, "file for standard output (default: the monitor log)"},
	{"stderr", "", true, "file for standard error (default: the monitor log)"},
	{"append", "", true, "append to --stdout/--stderr instead of truncating"},
	{"linger", "", true, "seconds the monitor answers after the process exits"},
	{"settle", "", true, "seconds start waits for the process to run or exit"},
	{"strict", "", true, "error when starting a started or stopping a stopped process"},
	{"shell", "", true, "run the command with /bin/sh -c"},
	{"stop-signal", "", true, "signal that stop sends first, name or number"},
	{"stop-timeout", "", true, "seconds before stop sends SIGKILL"},
	{"health-url", "", true, "healthy when an HTTP GET of this http:// URL answers 2xx or 3xx"},
	{"health-tcp", "", true, "healthy when a TCP connection to this HOST:PORT opens"},
	{"health-log", "", true,
		"healthy once the process has printed a line matching this regular expression"},
	{"restart", "", true, "restart the process when it exits: no, on-failure or always"},
	{"max-restarts", "", true, "restart at most this many times"},
	{"restart-delay", "", true, "seconds before the first restart, doubling up to 30 s"},
	{"env", "", true, "KEY=VALUE to add to the process's environment; may be repeated"},
	{"config", "", false, "config file to read"},
	{"json", "", false, "print JSON instead of the response line"},
	{"lines", "n", false, "logs: how many lines to print"},
	{"follow", "f", false, "logs: go on printing what is added, until interrupted"},
	{"all", "", false, "list: also the names whose monitor has ended, as stopped"},
	{"debug", "", false, "print what the client does to stderr"},
	{"output", "", false, "export: write the unit or plist to this file instead of stdout"},
}

var expandedKeys = map[string]bool{"command": true, "health_command": true, "dir": true,
	"stdin": true, "stdout": true, "stderr": true, "health_url": true, "health_tcp": true,
	"env": true}

var healthKeys = []string{"health-command", "health-url", "health-tcp", "health-log"}

func findOption(long string) (optionSpec, bool) {
	i := slices.IndexFunc(optionSpecs, func(s optionSpec) bool { return s.long == long })
	return optionSpecs[max(i, 0)], i >= 0
}

func (s optionSpec) key() string { return strings.ReplaceAll(s.long, "-", "_") }

func (s optionSpec) field(o *options) reflect.Value {
	name := strings.ReplaceAll(s.long, "-", "")
	return reflect.ValueOf(o).Elem().FieldByNameFunc(func(f string) bool {
		return strings.EqualFold(f, name)
	})
}

func (s optionSpec) isBool() bool { return s.field(&options{}).Kind() == reflect.Bool }

func (s optionSpec) value(o *options) string { return fmt.Sprint(s.field(o)) }

const maxSeconds = 1e9

// set's errors name neither flag nor config key: the caller knows which one was used.
func (s optionSpec) set(o *options, text string) error {
	f := s.field(o)
	var v any = text
	var err error
	switch f.Kind() {
	case reflect.Bool:
		v, err = parseBool(text)
	case reflect.Int:
		n, nerr := strconv.Atoi(strings.TrimSpace(text))
		v = n
		if nerr != nil || n < 0 {
			err = fmt.Errorf("invalid int value: '%s' (a whole number, 0 or more)", text)
		}
	case reflect.Float64:
		// NaN fails the range check; Python's float() refused hex floats.
		x, xerr := strconv.ParseFloat(strings.TrimSpace(text), 64)
		v = x
		if xerr != nil || !(x >= 0 && x <= maxSeconds) || strings.ContainsAny(text, "xXpP_") {
			err = fmt.Errorf("invalid float value: '%s' (a number of seconds, 0 or more)", text)
		}
	}
	switch {
	case err != nil:
		return err
	case s.long == "linger" && v.(float64) > maxLinger:
		return fmt.Errorf("invalid float value: '%s' (at most %d seconds, one day)", text, maxLinger)
	case s.long == "stop-signal":
		_, err = parseSignal(text)
	case s.long == "restart" && !slices.Contains([]string{"no", "on-failure", "always"}, text):
		err = fmt.Errorf("invalid choice: '%s' (choose from 'no', 'on-failure', 'always')", text)
	case s.long == "env":
		_, err = envList(text).vars()
	}
	if err == nil {
		f.Set(reflect.ValueOf(v).Convert(f.Type()))
	}
	return err
}

// parseBool accepts what Python's ConfigParser.getboolean accepts.
func parseBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "yes", "true", "on":
		return true, nil
	case "0", "no", "false", "off":
		return false, nil
	}
	return false, fmt.Errorf("Not a boolean: %s", s)
}

func (o options) healthKinds() int {
	probes := []string{o.HealthCommand, o.HealthURL, o.HealthTCP, o.HealthLog}
	return len(slices.DeleteFunc(probes, func(p string) bool { return p == "" }))
}

type changedOption struct {
	spec  optionSpec
	value string
}

// changed are the non-default options a config file can hold (not the client's own).
func (o options) changed() (changed []changedOption) {
	def := defaultOptions()
	for _, spec := range optionSpecs {
		if v := spec.value(&o); spec.inFile && v != spec.value(&def) {
			changed = append(changed, changedOption{spec, v})
		}
	}
	return changed
}

// flags tell a monitor the options, expanded and resolved, readably in ps.
func (o options) flags() (flags []string) {
	for _, c := range o.changed() {
		flags = append(flags, "--"+c.spec.long+"="+c.value)
	}
	return flags
}

// quotedFlags are the flags Go-quoted on one line: fmt prints them as ["--a=1" "--b=2"].
func (o options) quotedFlags() string { return strings.Trim(fmt.Sprintf("%q", o.flags()), "[]") }

func (o options) summary() string {
	var parts []string
	for _, c := range o.changed() {
		parts = append(parts, fmt.Sprintf("%s=%q", c.spec.key(), c.value))
	}
	slices.Sort(parts)
	return strings.Join(parts, " ")
}

// optionsFromFlags reads what flags wrote, expanding nothing again.
func optionsFromFlags(flags []string) (options, error) {
	o := defaultOptions()
	fs := flag.NewFlagSet("procdog", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	for _, s := range optionSpecs {
		fs.Func(s.long, s.help, func(v string) error { return s.set(&o, v) })
	}
	err := fs.Parse(flags)
	if err == nil && fs.NArg() > 0 {
		err = fmt.Errorf("not an option: %q", fs.Arg(0))
	}
	return o, err
}

func seconds(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }

// ---------------------------------------------------------------------------
// The command line.

type commandLine struct {
	words         []string
	set           map[string]string
	help, version bool
}

// parseCommandLine parses as argparse did, unlike package flag (options anywhere, -cvalue,
// unambiguous prefixes), and checks values so that a bad one is a usage error.
func parseCommandLine(args []string) (commandLine, error) {
	cl := commandLine{set: map[string]string{}}
	for i := 0; i < len(args); i++ {
		switch arg := args[i]; {
		case arg == "--":
			cl.words = append(cl.words, args[i+1:]...)
			return cl, nil
		case arg == "-h" || arg == "--help":
			cl.help = true
		case arg == "-v" || arg == "--version":
			cl.version = true
		case arg == "-" || !strings.HasPrefix(arg, "-"):
			cl.words = append(cl.words, arg)
		default:
			spec, value, hasValue, err := splitOption(arg)
			switch {
			case err != nil:
				return cl, err
			case hasValue:
			case spec.isBool():
				value = "true"
			case i+1 < len(args):
				i++
				value = args[i]
			default:
				return cl, usageErrorf("argument --%s: expected one argument", spec.long)
			}
			if spec.long == "env" {
				// Each --env is one KEY=VALUE, spaces and all, in a list as the config key has.
				value = strings.TrimSpace(cl.set["env"] + " " + shellQuote(value))
			}
			if err := spec.set(&options{}, value); err != nil {
				return cl, usageErrorf("argument --%s: %v", spec.long, err)
			}
			cl.set[spec.long] = value
		}
	}
	return cl, nil
}

// splitOption reads --name[=value], -c or -cvalue; name may be a prefix, as in argparse.
func splitOption(arg string) (spec optionSpec, value string, hasValue bool, err error) {
	name, long := strings.CutPrefix(arg, "--")
	if !long {
		i := slices.IndexFunc(optionSpecs, func(s optionSpec) bool { return s.short == arg[1:2] })
		if i < 0 {
			return spec, "", false, usageErrorf("unrecognized arguments: %s", arg)
		}
		return optionSpecs[i], strings.TrimPrefix(arg[2:], "="), len(arg) > 2, nil
	}
	name, value, hasValue = strings.Cut(name, "=")
	if spec, ok := findOption(name); ok {
		return spec, value, hasValue, nil // --restart, though --restart-delay starts with it too
	}
	var matches []string
	for _, s := range optionSpecs {
		if strings.HasPrefix(s.long, name) {
			spec, matches = s, append(matches, "--"+s.long)
		}
	}
	if len(matches) == 0 {
		err = usageErrorf("unrecognized arguments: --%s", name)
	} else if len(matches) > 1 {
		err = usageErrorf("ambiguous option: --%s could match %s", name, strings.Join(matches, ", "))
	}
	return spec, value, hasValue, err
}

func (cl commandLine) givesHealthCheck() bool {
	return slices.ContainsFunc(healthKeys, func(k string) bool { _, ok := cl.set[k]; return ok })
}

// skips an expanded option the command does not use: a $VAR this shell lacks can't fail it.
func (cl commandLine) skips(spec optionSpec) bool {
	return expandedKeys[spec.key()] && len(cl.words) > 0 && !usesOption(cl.words[0], spec.long)
}

func validName(name string) bool { return name != "" && strings.Trim(name, nameChars) == "" }

const nameChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"

// resolveOptions merges defaults < config file < command line; resolvePaths comes later.
func resolveOptions(cl commandLine, name string) (options, error) {
	o := defaultOptions()
	values, path, err := readConfig(cl.set["config"], name)
	if err != nil {
		return o, err
	}
	for _, k := range slices.Sorted(maps.Keys(values)) {
		spec, ok := findOption(strings.ReplaceAll(k, "_", "-"))
		if !ok || !spec.inFile || strings.Contains(k, "-") {
			return o, failf(exitUnknown, "unrecognized config key: '%s' in '%s'", k, path)
		}
		// The command line's value wins (env adds), and its health check replaces any.
		_, given := cl.set[spec.long]
		if given && spec.long != "env" || cl.skips(spec) ||
			cl.givesHealthCheck() && slices.Contains(healthKeys, spec.long) {
			continue
		}
		v, err := spec.expand(values[k])
		if err != nil {
			return o, err
		}
		if err := spec.set(&o, v); err != nil && spec.isBool() {
			return o, failf(exitUnknown, "%v", err) // as ConfigParser.getboolean says it
		} else if err != nil {
			return o, failf(exitUnknown, "%v for config key '%s' in '%s'", err, k, path)
		}
	}
	// A relative dir in a config file is relative to the file, wherever procdog runs.
	if _, ok := values["dir"]; ok && o.Dir != "" && !filepath.IsAbs(o.Dir) {
		if abs, err := filepath.Abs(path); err == nil {
			o.Dir = filepath.Join(filepath.Dir(abs), o.Dir)
		}
	}
	if o.healthKinds() > 1 {
		return o, failf(exitUnknown, "more than one kind of health check in '%s': "+
			"use one of health_command, health_url, health_tcp, health_log", path)
	}
	return o, o.applyCommandLine(cl)
}

// applyCommandLine: the command line's health check replaces o's; its env adds to o's.
func (o *options) applyCommandLine(cl commandLine) error {
	if cl.givesHealthCheck() {
		o.HealthCommand, o.HealthURL, o.HealthTCP, o.HealthLog = "", "", "", ""
	}
	for _, spec := range optionSpecs {
		v, ok := cl.set[spec.long]
		if !ok || cl.skips(spec) {
			continue
		}
		v, err := spec.expand(v)
		if err != nil {
			return err
		}
		before := o.Env
		if err := spec.set(o, v); err != nil {
			return usageErrorf("argument --%s: %v", spec.long, err)
		}
		if spec.long == "env" {
			o.Env = before.with(o.Env)
		}
	}
	if o.healthKinds() > 1 {
		return usageErrorf("use only one of " +
			"--health-command, --health-url, --health-tcp, --health-log")
	}
	return nil
}

// expand's error is the whole message; a value the option refuses is left to set.
func (s optionSpec) expand(value string) (string, error) {
	if !expandedKeys[s.key()] {
		return value, nil
	}
	words := []string{value}
	if s.long == "env" {
		// Word by word, so that a value with a space or a quote stays one KEY=VALUE.
		var err error
		if words, err = splitWords(value); err != nil {
			return value, nil
		}
	}
	for i, w := range words {
		v, err := expandVars(w, os.LookupEnv)
		if err != nil {
			msg := fmt.Sprintf("could not expand environment variable names in %s '%s': %v",
				s.key(), value, err)
			ce := &codedError{code: exitUnknown, msg: msg}
			if strings.HasPrefix(err.Error(), "Invalid placeholder") {
				// A shell's $1 or $(cmd) must reach it as $$.
				ce.hint = "write $$ for a literal $: procdog expands $VAR and ${VAR} itself, " +
					"before any shell sees the command"
			}
			return "", ce
		}
		if s.long == "env" {
			v = shellQuote(v)
		}
		words[i] = v
	}
	return strings.Join(words, " "), nil
}

// ---------------------------------------------------------------------------
// The config file: INI as Python's ConfigParser reads it.

const maxConfigSize = 1 << 20

// readConfig returns name's values, over [DEFAULT]'s, and the path read. As procdog runs its
// commands, it refuses a file of another user (root excepted), one others may write, or one
// not regular (a FIFO would hang procdog), checked once open so none can be swapped in.
func readConfig(explicit, name string) (map[string]string, string, error) {
	path := cmp.Or(explicit, findConfig())
	if path == "" {
		return nil, "", nil
	}
	f, err := openChecked(path, os.O_RDONLY, 0, "read config file", "cannot read config file",
		func(fi os.FileInfo) string {
			switch uid := fileOwner(fi); {
			case !fi.Mode().IsRegular():
				return "it is not a regular file"
			case uid != os.Getuid() && uid != 0:
				return fmt.Sprintf("it belongs to another user (uid %d)", uid)
			case fi.Mode().Perm()&0o002 != 0:
				return "other users may write to it"
			}
			return ""
		})
	if err != nil {
		return nil, path, err
	}
	defer f.Close()
	text, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	if err != nil {
		return nil, path, failf(exitUnknown, "cannot read config file: %v", err)
	} else if len(text) > maxConfigSize {
		return nil, path, failf(exitUnknown, "refusing to read config file %s: "+
			"it is larger than %d bytes", path, maxConfigSize)
	}
	sections, err := parseINI(string(text))
	if err != nil {
		return nil, path, failf(exitUnknown, "%s: %v", path, err)
	}
	values := map[string]string{}
	if section, ok := sections[name]; ok {
		maps.Copy(values, sections["DEFAULT"])
		maps.Copy(values, section)
	}
	return values, path, nil
}

// findConfig looks here and up, else in fallbackConfigs. It stops below a directory others may
// write, such as /tmp: a file planted there would be refused, and so stop procdog for all.
func findConfig() string {
	paths := []string{"procdog.cfg"} // named as the original named it, in messages too
	if wd, err := os.Getwd(); err == nil {
		for dir := filepath.Dir(wd); dir != wd; wd, dir = dir, filepath.Dir(dir) {
			if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm()&0o002 != 0 {
				break
			}
			paths = append(paths, filepath.Join(dir, "procdog.cfg"))
		}
	}
	for _, path := range append(paths, fallbackConfigs()...) {
		if fi, err := os.Stat(path); err == nil && !fi.IsDir() {
			return path
		}
	}
	return ""
}

func fallbackConfigs() (paths []string) {
	if exe, err := os.Executable(); err == nil {
		paths = append(paths, filepath.Join(filepath.Dir(exe), "procdog.cfg"))
	}
	if home, err := os.UserHomeDir(); err == nil {
		paths = append(paths, filepath.Join(home, ".procdog.cfg"))
	}
	return paths
}

func configHint(name, path string) string {
	if path != "" {
		return fmt.Sprintf("no command for '%s' in the config file %s", name, path)
	}
	wd, _ := os.Getwd()
	return fmt.Sprintf("no config file found: looked for procdog.cfg in %s and its parents, "+
		"and for %s", wd, strings.Join(fallbackConfigs(), " and "))
}

// parseINI reads as RawConfigParser: keys lower case, values trimmed, indented lines
// continuing, # and ; comments, a later value winning, nothing interpolated.
func parseINI(text string) (map[string]map[string]string, error) {
	sections := map[string]map[string]string{}
	var section map[string]string
	key := "" // the key an indented line continues
	for n, line := range strings.Split(text, "\n") {
		line = strings.TrimRight(line, "\r")
		trimmed := strings.TrimSpace(line)
		bad := func(what string) error { return fmt.Errorf("line %d: %s: %s", n+1, what, trimmed) }
		switch k := strings.IndexAny(trimmed, "=:"); {
		case trimmed == "" || trimmed[0] == '#' || trimmed[0] == ';':
			// As Python 2's ConfigParser: a blank line does not end the value it is in.
		case key != "" && (line[0] == ' ' || line[0] == '\t'):
			section[key] += "\n" + trimmed
		case trimmed[0] == '[':
			end := strings.LastIndexByte(trimmed, ']')
			if end < 2 {
				return nil, bad("bad section header")
			}
			header := trimmed[1:end]
			if sections[header] == nil {
				sections[header] = map[string]string{}
			}
			section, key = sections[header], ""
		case k <= 0:
			return nil, bad("expected 'key = value' or '[section]'")
		case section == nil:
			return nil, bad("key before the first [section]")
		default:
			key = strings.ToLower(strings.TrimSpace(trimmed[:k]))
			section[key] = strings.TrimSpace(trimmed[k+1:])
		}
	}
	return sections, nil
}

// ---------------------------------------------------------------------------
// Commands as the user wrote them.

const identifier = `[_a-zA-Z][_a-zA-Z0-9]*`

var (
	placeholder = regexp.MustCompile(`\$(\$|` + identifier + `|\{` + identifier + `\}|)`)
	envWord     = regexp.MustCompile(`^` + identifier + `=`)
)

// expandVars is Python's string.Template.substitute ($VAR, ${VAR}, $$), errors included.
func expandVars(s string, lookup func(string) (string, bool)) (string, error) {
	var b strings.Builder
	end := 0
	for _, m := range placeholder.FindAllStringIndex(s, -1) {
		b.WriteString(s[end:m[0]])
		end = m[1]
		switch name := strings.Trim(s[m[0]+1:m[1]], "{}"); name {
		case "$":
			b.WriteByte('$')
		case "":
			// Lines end in \n, \r or \r\n, as Python's splitlines saw them.
			before := strings.ReplaceAll(s[:m[0]], "\r\n", "\n")
			line := strings.Count(before, "\n") + strings.Count(before, "\r") + 1
			col := len(before) - strings.LastIndexAny(before, "\r\n")
			return "", fmt.Errorf("Invalid placeholder in string: line %d, col %d", line, col)
		default:
			v, ok := lookup(name)
			if !ok {
				return "", fmt.Errorf("'%s'", name)
			}
			b.WriteString(v)
		}
	}
	return b.String() + s[end:], nil
}

// splitWords splits as Python's shlex.split did, expanding nothing: single quotes keep
// all, in double quotes a backslash escapes only " and \, outside them any character.
func splitWords(s string) ([]string, error) {
	var words []string
	var word strings.Builder
	inWord := false
	var quote byte // the open quote, or 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case quote == '\'' && c != '\'', quote == '"' && c != '"' && c != '\\':
			word.WriteByte(c)
		case quote != 0 && c == quote:
			quote = 0
		case c == '\\':
			if i+1 == len(s) {
				return nil, errors.New("No escaped character")
			}
			if quote == 0 || s[i+1] == '"' || s[i+1] == '\\' {
				i++ // else, in double quotes, the backslash is itself
			}
			word.WriteByte(s[i])
		case c == '\'' || c == '"':
			quote = c
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			if inWord {
				words = append(words, word.String())
				word.Reset()
			}
			inWord = false
			continue
		default:
			word.WriteByte(c)
		}
		inWord = true
	}
	if quote != 0 {
		return nil, errors.New("No closing quotation")
	}
	if inWord {
		words = append(words, word.String())
	}
	return words, nil
}

// resolvePaths makes the paths absolute (files relative to dir): the monitor runs elsewhere.
func (o *options) resolvePaths() (err error) {
	if o.Dir, err = filepath.Abs(o.Dir); err != nil {
		return failf(exitUnknown, "%v", err)
	}
	for _, p := range []*string{&o.Stdin, &o.Stdout, &o.Stderr} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(o.Dir, *p)
		}
	}
	return nil
}

func orDefault(s, def string) string { return cmp.Or(s, def) }

// checkHealthProbes makes a typo or unknown host a usage error, not a never healthy process.
func (o options) checkHealthProbes() error {
	if _, err := regexp.Compile(o.HealthLog); err != nil {
		return usageErrorf("argument --health-log: not a regular expression: %v", err)
	}
	option, value, host, port := "--health-url", o.HealthURL, "", ""
	switch {
	case o.HealthURL != "":
		u, err := url.Parse(value)
		if err != nil || u.Scheme != "http" || u.Host == "" {
			return usageErrorf("argument --health-url: not an http:// URL: '%s'", value)
		}
		if host, port = u.Hostname(), u.Port(); port == "" && !strings.HasSuffix(u.Host, ":") {
			port = "80"
		}
	case o.HealthTCP != "":
		option, value = "--health-tcp", o.HealthTCP
		var err error
		if host, port, err = net.SplitHostPort(value); err != nil {
			return usageErrorf("argument --health-tcp: not HOST:PORT: '%s'", value)
		}
	default:
		return nil
	}
	switch n, err := strconv.Atoi(port); {
	case host == "":
		return usageErrorf("argument %s: no host in '%s'", option, value)
	case port == "":
		return usageErrorf("argument %s: no port in '%s'", option, value)
	case err != nil || n < 1 || n > 65535:
		return usageErrorf("argument %s: port '%s' is not a number from 1 to 65535 in '%s'",
			option, port, value)
	}
	timeout := max(seconds(o.HealthTimeout), time.Second) // 0 kills checks, not lookups
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if _, err := net.DefaultResolver.LookupHost(ctx, host); err != nil {
		return usageErrorf("argument %s: unknown host '%s' in '%s'", option, host, value)
	}
	return nil
}

func (o options) commandArgs() ([]string, error) {
	if o.Shell {
		return []string{"/bin/sh", "-c", o.Command}, nil
	}
	return splitCommand("command", o.Command)
}

// healthArgs is the argv of the health check, or none; it never runs in a shell.
func (o options) healthArgs() ([]string, error) {
	return splitCommand("health_command", o.HealthCommand)
}

func splitCommand(key, line string) ([]string, error) {
	argv, err := splitWords(line)
	if err != nil {
		return nil, failf(exitUnknown, "could not split %s '%s': %v", key, line, err)
	}
	return argv, nil
}

var signalNames = map[string]syscall.Signal{
	"HUP": syscall.SIGHUP, "INT": syscall.SIGINT, "QUIT": syscall.SIGQUIT,
	"KILL": syscall.SIGKILL, "USR1": syscall.SIGUSR1, "USR2": syscall.SIGUSR2,
	"TERM": syscall.SIGTERM, "ALRM": syscall.SIGALRM, "CONT": syscall.SIGCONT,
	"STOP": syscall.SIGSTOP, "WINCH": syscall.SIGWINCH, "PIPE": syscall.SIGPIPE,
}

type signalName string

// maxSignal: Linux has real-time signals up to 64, macOS and the BSDs stop at 31.
func maxSignal() int {
	if runtime.GOOS == "linux" {
		return 64
	}
	return 31
}

func parseSignal(s string) (syscall.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil && n > 0 && n <= maxSignal() {
		return syscall.Signal(n), nil
	}
	if sig, ok := signalNames[strings.TrimPrefix(strings.ToUpper(s), "SIG")]; ok {
		return sig, nil
	}
	return 0, fmt.Errorf("invalid signal: '%s' (a name such as TERM, HUP or KILL, "+
		"or a number from 1 to %d)", s, maxSignal())
}

// envList is KEY=VALUE words, quoted as in a command, for the process and health command.
type envList string

// with adds more, a later value replacing the earlier in place, so restarts do not grow it.
func (l envList) with(more envList) envList {
	a, _ := l.vars()
	b, _ := more.vars()
	var keys, words []string
	for _, kv := range append(a, b...) {
		key, _, _ := strings.Cut(kv, "=")
		if i := slices.Index(keys, key); i >= 0 {
			words[i] = shellQuote(kv)
		} else {
			keys, words = append(keys, key), append(words, shellQuote(kv))
		}
	}
	return envList(strings.Join(words, " "))
}

func (l envList) vars() ([]string, error) {
	words, err := splitWords(string(l))
	if err != nil {
		return nil, fmt.Errorf("invalid env '%s': %v", l, err)
	}
	for _, w := range words {
		if !envWord.MatchString(w) {
			return nil, fmt.Errorf("invalid env word '%s': want KEY=VALUE, "+
				"KEY a name of letters, digits and underscores", w)
		}
	}
	return words, nil
}

func shellQuote(w string) string {
	if w != "" && strings.Trim(w, nameChars+"./:,+=@%") == "" {
		return w
	}
	return "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
}

// ---------------------------------------------------------------------------
// State files.

// stateDir is absolute, for the monitor runs in /.
func stateDir() string {
	d := orDefault(os.Getenv("PROCDOG_DIR"), "/var/tmp")
	if abs, err := filepath.Abs(d); err == nil {
		return abs
	}
	return d
}

func statePath(dir, name, kind string) string {
	return filepath.Join(dir, "procdog."+name+"."+kind)
}

// newSocketSuffix names the socket a monitor binds before renaming it into
// place, so that clients never see a half-made one.
const newSocketSuffix = ".new"

// maxSocketPath is the longest path a Unix socket can bind: sun_path holds
// 104 bytes on macOS and 108 on Linux, with the terminating NUL.
func maxSocketPath() int {
	if runtime.GOOS == "linux" {
		return 107
	}
	return 103
}

// checkStateFile refuses what stateFileProblem refuses; a missing file is fine.
func checkStateFile(path string) error {
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return failf(exitUnknown, "cannot use %s: %v", path, err)
	case stateFileProblem(fi) != "":
		return failf(exitUnknown, "refusing to use %s: %s", path, stateFileProblem(fi))
	}
	return nil
}

// stateFileProblem says why fi cannot be a state file, or "": on a shared
// machine, a link or another user's file could lead to somebody else's.
func stateFileProblem(fi os.FileInfo) string {
	switch {
	case fi.Mode()&os.ModeSymlink != 0:
		return "it is a symbolic link"
	case !fi.Mode().IsRegular() && fi.Mode()&os.ModeSocket == 0:
		return "it is not a regular file"
	case fileOwner(fi) != os.Getuid():
		return fmt.Sprintf("it belongs to another user (uid %d)", fileOwner(fi))
	case fi.Mode().IsRegular() && fi.Sys().(*syscall.Stat_t).Nlink > 1:
		// Another user can link a file of ours here, for us to truncate.
		return "it has other names (hard links)"
	}
	return ""
}

// fileOwner is the uid of fi's owner; on Unix, fi.Sys() is a *syscall.Stat_t.
func fileOwner(fi os.FileInfo) int { return int(fi.Sys().(*syscall.Stat_t).Uid) }

// openStateFile opens a file in the state directory, owner-only.
func openStateFile(path string, mode int) (*os.File, error) {
	return openChecked(path, mode|syscall.O_NOFOLLOW, 0o600, "use", "cannot open "+path,
		stateFileProblem)
}

// openChecked opens every file in a place others can write to, never waiting
// (on a planted FIFO). check looks at the file opened, not the path, which
// could be swapped meanwhile, and says why it refuses it, or "". Errors read
// "refusing to VERB PATH: WHY", or else "CANNOT: ERROR".
func openChecked(path string, flag int, perm os.FileMode, verb, cannot string,
	check func(os.FileInfo) string) (*os.File, error) {
	f, err := os.OpenFile(path, flag|syscall.O_NONBLOCK, perm)
	var why string
	switch {
	case errors.Is(err, syscall.ELOOP): // from O_NOFOLLOW
		why = "it is a symbolic link"
	case errors.Is(err, syscall.ENXIO): // a FIFO opened for writing, with no reader
		why = "it is not a regular file"
	case err != nil:
		return nil, failf(exitUnknown, "%s: %v", cannot, err)
	default:
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, failf(exitUnknown, "%s: %v", cannot, err)
		}
		if why = check(fi); why == "" {
			return f, nil
		}
		f.Close()
	}
	return nil, failf(exitUnknown, "refusing to %s %s: %s", verb, path, why)
}

// stillAt tells whether the file at path is still the one fi describes.
// Inode numbers are reused, so the modification time must match too.
func stillAt(path string, fi os.FileInfo) bool {
	pi, err := os.Lstat(path)
	return err == nil && os.SameFile(fi, pi) && pi.ModTime().Equal(fi.ModTime())
}

var errLockBusy = errors.New("lock is held")

// acquireLock takes the flock on path, which the kernel releases when its
// holder dies: a killed monitor leaves no stale lock.
func acquireLock(path string) (*os.File, error) {
	for try := 0; try < 100; try++ {
		f, err := openStateFile(path, os.O_RDWR|os.O_CREATE)
		if err != nil {
			return nil, err
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return nil, errLockBusy
			}
			return nil, fmt.Errorf("cannot lock %s: %v", path, err)
		}
		// A lock on a file that its holder removed meanwhile guards nothing.
		if fi, err := f.Stat(); err == nil && stillAt(path, fi) {
			return f, nil
		}
		f.Close()
	}
	return nil, fmt.Errorf("cannot lock %s: it keeps changing", path)
}

// releaseLock removes the lock file, if still ours, before unlocking it, so
// that nobody can lock it in the moment before it goes.
func releaseLock(f *os.File) {
	if fi, err := f.Stat(); err == nil && stillAt(f.Name(), fi) {
		os.Remove(f.Name())
	}
	f.Close()
}

// lockHeld reports whether a monitor holds the lock on path. One starting
// while its shared lock is held answers busy, and the start loop tries again.
func lockHeld(path string) bool {
	f, err := openStateFile(path, os.O_RDONLY)
	if err != nil {
		return false
	}
	defer f.Close()
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB)
	return errors.Is(err, syscall.EWOULDBLOCK)
}

// ---------------------------------------------------------------------------
// Sockets and processes.

// listenUnix listens on a socket that is owner-only from the first moment,
// bound under a umask that no child started meanwhile may inherit. Only
// removeSocket removes the file: by then it may be a newer monitor's.
func listenUnix(path string) (net.Listener, error) {
	syscall.ForkLock.Lock()
	oldMask := syscall.Umask(0o177) // read and write are all a client needs
	ln, err := net.Listen("unix", path)
	syscall.Umask(oldMask)
	syscall.ForkLock.Unlock()
	if err != nil {
		return nil, err
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	return ln, nil
}

// dialMonitor connects to the monitor at path if it runs as this user (not
// root either). The socket file can be swapped after its owner was checked;
// only the peer's credentials, which the kernel keeps, say who answers.
func dialMonitor(path string) (net.Conn, error) {
	deadline := time.Now().Add(dialTimeout)
	conn, err := net.DialTimeout("unix", path, dialTimeout)
	// A monitor whose backlog is full refuses with EAGAIN.
	for errors.Is(err, syscall.EAGAIN) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
		conn, err = net.DialTimeout("unix", path, dialTimeout)
	}
	if err != nil {
		return nil, err
	}
	_, uid, err := peerCred(conn.(*net.UnixConn))
	if err == nil && uid != os.Getuid() {
		err = failf(exitUnknown, "refusing to talk to %s: it is served by another user (uid %d)",
			path, uid)
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// peerCred is the pid (0 if the system does not tell) and effective uid of
// the peer of a Unix socket, by getsockopt, as package syscall lacks them:
// struct ucred {pid, uid, gid} on Linux, struct xucred {version, uid, ...} on macOS.
func peerCred(c syscall.Conn) (pid, uid int, err error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, -1, err
	}
	getsockopt := func(level, option int, buf []uint32) (errno syscall.Errno) {
		n := uint32(4 * len(buf))
		rc.Control(func(fd uintptr) {
			_, _, errno = syscall.Syscall6(syscall.SYS_GETSOCKOPT, fd, uintptr(level),
				uintptr(option), uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&n)), 0)
		})
		return errno
	}
	if runtime.GOOS != "linux" {
		var xucred [76 / 4]uint32
		if errno := getsockopt(0, 1, xucred[:]); errno != 0 { // SOL_LOCAL, LOCAL_PEERCRED
			return 0, -1, os.NewSyscallError("getsockopt", errno)
		}
		var peerPid [1]uint32
		getsockopt(0, 2, peerPid[:]) // LOCAL_PEERPID; older systems lack it, and say pid 0
		return int(int32(peerPid[0])), int(xucred[1]), nil
	}
	soPeercred := 17 // SO_PEERCRED, but for a few architectures
	if strings.HasPrefix(runtime.GOARCH, "ppc64") {
		soPeercred = 21
	} else if strings.HasPrefix(runtime.GOARCH, "mips") {
		soPeercred = 18
	}
	var ucred [3]uint32
	if errno := getsockopt(syscall.SOL_SOCKET, soPeercred, ucred[:]); errno != 0 {
		return 0, -1, os.NewSyscallError("getsockopt", errno)
	}
	return int(int32(ucred[0])), int(ucred[1]), nil
}

// processStart is when pid started, or "" for a zombie or if the system
// cannot tell: field 22 of /proc/PID/stat on Linux, elsewhere what ps says.
func processStart(pid int) string {
	if runtime.GOOS != "linux" {
		// One locale and time zone, so that every procdog reads the same.
		ps := exec.Command("ps", "-o", "lstart=", "-p", strconv.Itoa(pid))
		ps.Env = append(os.Environ(), "LC_ALL=C", "TZ=UTC")
		out, _ := ps.Output()
		return strings.Join(strings.Fields(string(out)), "_")
	}
	// Fields count from the end of the command's name, which may hold ") ".
	stat, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	i := strings.LastIndexByte(string(stat), ')')
	if fields := strings.Fields(string(stat[i+1:])); len(fields) > 19 && fields[0] != "Z" {
		return fields[19]
	}
	return ""
}

// findExecutable finds name through $PATH, or says why it cannot be run from
// dir when it has a slash; then it is returned as it is, for os/exec.
func findExecutable(name, dir string) (string, error) {
	if !strings.Contains(name, "/") {
		return exec.LookPath(name)
	}
	path := name
	if !filepath.IsAbs(path) {
		path = filepath.Join(dir, name)
	}
	fi, err := os.Stat(path)
	switch {
	case err != nil:
		return "", &os.PathError{Op: "exec", Path: name, Err: errors.Unwrap(err)}
	case fi.IsDir() || fi.Mode()&0o111 == 0:
		return "", &os.PathError{Op: "exec", Path: name, Err: syscall.EACCES}
	}
	return name, nil
}

// describeExecError says which command could not be run and why, without
// Go's "exec:" and "fork/exec" prefixes.
func describeExecError(err error) string {
	var ee *exec.Error
	var pe *os.PathError
	switch {
	case errors.As(err, &ee):
		return fmt.Sprintf("%s: %v", ee.Name, ee.Err)
	case errors.As(err, &pe):
		return fmt.Sprintf("%s: %v", pe.Path, pe.Err)
	}
	return err.Error()
}

// exitCode is a process's returncode as Python's Popen gave it: -SIGNAL.
func exitCode(ps *os.ProcessState) int {
	if ps == nil {
		return -1
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return -int(ws.Signal())
	}
	return ps.ExitCode()
}

func openInput(path string) (*os.File, error) { return openStd("stdin", path, os.O_RDONLY) }

// openOutputs opens --stdout and --stderr, or gives the monitor log. Both
// naming one file by any paths share a descriptor, or each would overwrite
// the other's lines. Neither is truncated yet: a start may still fail.
func openOutputs(o options, logOut *os.File) (stdout, stderr *os.File, err error) {
	flag := os.O_WRONLY | os.O_CREATE
	if o.Append {
		flag |= os.O_APPEND
	}
	stdout, stderr = logOut, logOut
	if o.Stdout != "" {
		if stdout, err = openStd("stdout", o.Stdout, flag); err != nil {
			return nil, nil, err
		}
	}
	if o.Stderr != "" {
		if stderr, err = openStd("stderr", o.Stderr, flag); err != nil {
			if stdout != logOut {
				stdout.Close()
			}
			return nil, nil, err
		}
		a, _ := stdout.Stat() // SameFile is false for a failed Stat's nil
		b, _ := stderr.Stat()
		if os.SameFile(a, b) {
			stderr.Close()
			stderr = stdout
		}
	}
	return stdout, stderr, nil
}

// openStd opens a standard file of the process without waiting on a FIFO,
// which would hang the monitor that holds the lock, and makes it blocking.
func openStd(what, path string, flag int) (*os.File, error) {
	f, err := os.OpenFile(path, flag|syscall.O_NONBLOCK, 0o666)
	switch {
	case errors.Is(err, syscall.ENXIO): // opened for writing, with no reader
		return nil, fmt.Errorf("cannot open %s: %s is a FIFO with no reader", what, path)
	case err != nil:
		return nil, fmt.Errorf("cannot open %s: %v", what, err)
	}
	if fi, err := f.Stat(); err != nil || fi.IsDir() {
		f.Close()
		return nil, fmt.Errorf("cannot open %s: %s is a directory", what, path)
	}
	if err := syscall.SetNonblock(int(f.Fd()), false); err != nil {
		f.Close()
		return nil, fmt.Errorf("cannot open %s: %s: %v", what, path, err)
	}
	return f, nil
}

// closeInheritedOnExec marks every descriptor above stderr close-on-exec, so
// that none that the caller left open (a pipe, a lock) is held by a monitor.
func closeInheritedOnExec() {
	entries, err := os.ReadDir("/dev/fd")
	if err != nil { // no /dev/fd (no /proc on Linux): mark them all
		for fd := 3; fd < 1024; fd++ {
			syscall.CloseOnExec(fd)
		}
	}
	for _, e := range entries {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
			syscall.CloseOnExec(fd)
		}
	}
}
