// Procdog starts, stops and checks the health of a process, detached from the shell, on Linux
// and macOS, without root:
//
//	$ procdog start web -c "python3 -m http.server" --health-tcp 127.0.0.1:8000 --ensure-healthy
//	running, health=0, pid=14969
//
// Every command is a client. start re-executes the binary as NAME's monitor, which holds the
// flock on procdog.NAME.lock, runs the process as a group leader and answers a line ("status",
// "stop", ...) with a line ("running, health=0, pid=12") on procdog.NAME.sock; monitor.loop owns
// its state. The state directory (/var/tmp, or $PROCDOG_DIR) is shared: every file there is
// opened without following links, then checked, and a client trusts only its own uid's monitor.
package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
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

	// Exit codes are public: scripts test them. 130 is the shell's for death by SIGINT.
	exitOK, exitError, exitUnknown, exitAlreadyRunning = 0, 2, 3, 4
	exitNotRunning, exitUnhealthy, exitInterrupted     = 5, 6, 130

	// Response codes; codeBusy goes only from a monitor to its client: another has the name.
	codeRunning, codeExited, codeKilled, codeStopped = "running", "exited", "killed", "stopped"
	codeError, codeInvalid, codeBusy                 = "error", "invalid", "busy"

	// Every socket operation has a deadline, and a line too long is dropped, not buffered.
	dialTimeout, requestDeadline    = 2 * time.Second, 2 * time.Second
	maxRequestLine, maxStatusLine   = 1024, 4096
	answerSlack                     = 5 * time.Second // added to the work a request may take
	lockPollInterval, maxLockPoll   = 2 * time.Millisecond, 100 * time.Millisecond
	livenessInterval, probeDeadline = 3 * time.Second, 5 * time.Second // a probe: slow under load
)

var debugging bool // set once, by runCommand from --debug

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

func report(stderr io.Writer, err error) int {
	if err == nil {
		return exitOK
	}
	ee := &codedError{code: exitUnknown, msg: err.Error()}
	errors.As(err, &ee)
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

// codedError is how procdog exits: report prints the usage line if usage, then MSG and HINT
// unless empty (no MSG: the response said it, or the code is exitOK), and exits with code.
type codedError struct {
	code      int
	msg, hint string
	usage     bool
}

func (e *codedError) Error() string { return e.msg }

func usageErrorf(format string, args ...any) error {
	return &codedError{code: exitError, msg: fmt.Sprintf(format, args...), usage: true}
}

func failf(code int, format string, args ...any) error {
	return &codedError{code: code, msg: fmt.Sprintf(format, args...)}
}

// runCommand returns how procdog exits, for report: as a *codedError, even exitOK.
func runCommand(args []string, stdout, stderr io.Writer) error {
	cl, err := parseCommandLine(args)
	if err != nil {
		return err
	}
	command, words := "", []string(nil)
	if len(cl.words) > 0 {
		command, words = cl.words[0], cl.words[1:]
	}
	help := cl.help || command == "help" // "help X" is a strict "X -h": X known, no more words
	if command == "help" && len(words) > 0 {
		command, words = words[0], words[1:]
	}
	c, ok := findCommand(command)
	want := strings.Fields(strings.ToLower(strings.ReplaceAll(c.args, "SIG", "signal")))
	debugging, _ = parseBool(cl.set["debug"])
	switch {
	case !cl.help && (help || command == "version" && !cl.version) && len(words) > 0:
		return usageErrorf("unrecognized arguments: %s", strings.Join(words, " "))
	case help && (ok || cl.help || command == "help" || command == "version"):
		text := helpText()
		if ok {
			text = commandHelp(c)
		}
		fmt.Fprint(stdout, text)
		return nil
	case !help && (cl.version || command == "version"):
		fmt.Fprintln(stdout, "procdog "+version)
		return nil
	case len(cl.words) == 0:
		return &codedError{code: exitError, usage: true,
			msg: "the following arguments are required: COMMAND", hint: "COMMAND is one of " +
				strings.Join(commandNames, ", ") + "; 'procdog -h' for help"}
	case !ok:
		return &codedError{code: exitError, usage: true, msg: fmt.Sprintf("argument command: "+
			"invalid choice: '%s' (choose from %s)", command, commandChoices),
			hint: didYouMean("", command, commandNames)}
	case len(words) < len(want):
		missing := strings.TrimSuffix(strings.Join(want[len(words):], ", "), "...")
		return usageErrorf("the following arguments are required: %s", missing)
	case len(words) > len(want) && c.args != "NAME...":
		return usageErrorf("unrecognized arguments: %s", strings.Join(words[len(want):], " "))
	case command == "list":
		return runList(cl, stdout)
	case command == "export":
		return runExport(cl, words, stdout, stderr)
	}
	names := words[:1]
	if c.args == "NAME..." {
		names = words
	}
	if i := slices.IndexFunc(names, func(name string) bool { return !validName(name) }); i >= 0 {
		return usageErrorf("Invalid process name '%s'; "+
			"must be alphanumeric, with only underscores or dashes", names[i])
	}
	if len(names) > 1 {
		return runNames(command, names, cl, stdout, stderr)
	}
	return runName(command, words, cl, stdout, stderr)
}

func runList(cl commandLine, stdout io.Writer) error {
	o := defaultOptions()
	dir, err := stateDir("")
	if err = cmp.Or(o.applyCommandLine(cl), err); err == nil {
		err = list(dir, o, stdout)
	}
	return err
}

// stateDir is absolute, for the monitor runs in /; for a name, one where NAME's socket path fits
// in sun_path: 104 bytes on macOS, 108 on Linux.
func stateDir(name string) (string, error) {
	d := orDefault(os.Getenv("PROCDOG_DIR"), "/var/tmp")
	abs, _ := filepath.Abs(d)
	dir := orDefault(abs, d)
	sunPath := len(syscall.RawSockaddrUnix{}.Path) - 1 // less the path's NUL
	over := len(statePath(dir, name, "sock")+newSocketSuffix) - sunPath
	if err := checkStateDir(dir); err != nil || over <= 0 || name == "" {
		return dir, err
	} else if len(name) > over {
		return dir, usageErrorf("process name '%s' is too long for a socket in %s "+
			"(at most %d characters fit)", name, dir, len(name)-over)
	}
	return dir, usageErrorf("the state directory %s is too long for a socket path; "+
		"set PROCDOG_DIR to a shorter one", dir)
}

// runName runs a command for one name: words are NAME and the command's others.
func runName(command string, words []string, cl commandLine, stdout, stderr io.Writer) error {
	c, r, err := client{name: words[0], command: command, warnings: stderr}, response{}, error(nil)
	if c.dir, err = stateDir(c.name); err != nil {
		return err
	} else if c.o, err = resolveOptions(cl, c.name); err != nil {
		return err
	}
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
	case "wait": // "wait COUNT DELAY TIMEOUT", "-" for the monitor's own; "wait" for all its own
		line := "wait"
		for _, k := range []string{"health-count", "health-delay", "health-timeout"} {
			line += " " + cmp.Or(cl.set[k], "-")
		}
		r, err = c.request(strings.TrimSuffix(line, " - - -"))
		if err == nil && r.code == codeInvalid { // a monitor of an older procdog: its own options
			r, err = c.request("wait")
		}
	case "status", "stop":
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
	} else if command == "stop" && c.o.Strict && r.code == codeStopped {
		return failf(exitNotRunning, "process '%s' is not running", c.name)
	}
	printResponse(stdout, c.name, r, c.o.JSON)
	code := exitCodeFor(command, r, c.o)
	if code == exitUnhealthy && r.checks > 0 && r.code != codeExited { // which says why
		return failf(code, "'%s' is not healthy after %d check%s: %s", c.name, r.checks,
			map[bool]string{true: "s"}[r.checks != 1], r.healthError)
	}
	return &codedError{code: code}
}

// runNames prints "NAME: <response>" for each name. start and restart stop at the first
// failure, so "start db web --ensure-healthy" starts web once db is healthy; stop goes in
// reverse; status and wait run at once.
func runNames(command string, names []string, cl commandLine, stdout, stderr io.Writer) error {
	if command == "stop" {
		names = slices.Clone(names)
		slices.Reverse(names)
	}
	asJSON, _ := parseBool(cl.set["json"])
	outs, errs := make([]bytes.Buffer, len(names)), make([]error, len(names))
	runOne := func(i int) { errs[i] = runName(command, names[i:i+1], cl, &outs[i], stderr) }
	together := command == "status" || command == "wait"
	var wg sync.WaitGroup
	for i := 0; together && i < len(names); i++ {
		wg.Add(1) // i passed: a vendoring module's go line may be older than 1.22
		go func(i int) { defer wg.Done(); runOne(i) }(i)
	}
	wg.Wait()
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
	return &codedError{code: first}
}

// commandSpec: args are as help shows them (errors name them in lower case, SIG as signal); uses
// lists the options the command uses if not all: COMMAND -h lists, and procdog expands, only these.
type commandSpec struct {
	name, args, help, uses, example string
}

func (c commandSpec) synopsis() string { return strings.TrimSpace(c.name + " " + c.args) }

// commands, in help's order. One that lists no uses takes all options but a few.
var commands = []commandSpec{
	{"start", "NAME...", "start NAME unless it is running, and print its status", "",
		`procdog start web --command "python3 -m http.server 8080 --bind 127.0.0.1"` +
			` --health-url http://127.0.0.1:8080/ --ensure-healthy`},
	{"status", "NAME...", "print the status of NAME", "ensure-healthy json config debug",
		"procdog status web --json"},
	{"wait", "NAME...", "wait until the health check passes (or --health-count tries fail)",
		"json config debug", "procdog wait web"},
	{"stop", "NAME...", "stop NAME and its whole process group", "strict json config debug",
		"procdog stop web --strict"},
	{"restart", "NAME...", "stop NAME if it runs, then start it with the options it had", "",
		"procdog restart web --linger 10"},
	{"list", "", "print NAME: status for every NAME whose monitor answers (--all: every NAME)",
		"all json debug", "procdog list --all"},
	{"signal", "NAME SIG", "send a signal (HUP, TERM, 9, ...) to NAME's process group",
		"ensure-healthy json config debug", "procdog signal web HUP"},
	{"logs", "NAME", "print the end of NAME's stdout, then of its stderr; -f follows them",
		"lines follow stdout stderr dir config debug", "procdog logs web -n 20 -f"},
	{"show", "NAME", "print the options NAME's monitor runs with, as config file lines",
		"json config debug", "procdog show web --json"},
	{"export", "FORMAT NAME", "print a systemd unit or launchd plist that runs NAME as start would",
		"", "procdog export systemd web --output ~/.config/systemd/user/procdog-web.service"},
}

func findCommand(name string) (commandSpec, bool) {
	i := slices.IndexFunc(commands, func(c commandSpec) bool { return c.name == name })
	return commands[max(i, 0)], i >= 0
}

func usesOption(command, long string) bool {
	if c, ok := findCommand(command); ok && c.uses != "" {
		return slices.Contains(strings.Fields(c.uses), long)
	}
	return !slices.Contains([]string{"lines", "follow", "all", "output"}, long) ||
		command == "export" && long == "output"
}

// usageLine and commandChoices are what argparse printed, for the commands.
var commandNames, usageLine, commandChoices = func() ([]string, string, string) {
	names := make([]string, len(commands))
	for i, c := range commands {
		names[i] = c.name
	}
	return names, "usage: procdog {" + strings.Join(names, ",") + "} [NAME] [options]",
		"'" + strings.Join(names, "', '") + "'"
}()

func helpText() string {
	text := usageLine + "\n\nStart, stop and check the health of a process, " +
		"detached from the shell.\n\ncommands:\n"
	for _, c := range commands {
		text += helpRow(15, c.synopsis(), c.help)
	}
	return text + helpRow(15, "help [COMMAND]",
		"show this help, or what COMMAND takes (also: COMMAND -h)") +
		helpRow(15, "version", "show the version") + optionsHelp("") +
		"\nState lives in $PROCDOG_DIR (default /var/tmp). Exit codes: 0 ok, 2 error,\n" +
		"3 unknown, 4 already running, 5 not running, 6 not healthy, 130 interrupted.\n"
}

// optionsHelp lists the options command uses, or for "", all and --version.
func optionsHelp(command string) string {
	text := "\noptions:\n" + helpRow(22, "-h, --help", "show this help and exit")
	if command == "" {
		text += helpRow(22, "-v, --version", "show the version and exit")
	}
	def := defaultOptions()
	for _, s := range optionSpecs {
		synopsis, help := strings.TrimPrefix("-"+s.short+", --"+s.long, "-, "), s.help
		if !s.isBool() {
			synopsis += " " + strings.ToUpper(s.key())
		}
		if s.long == "ensure-healthy" && (command == "status" || command == "signal") {
			help = "exit 6 unless the process is running and healthy"
		}
		if v := s.value(&def); v != s.value(&options{}) {
			help += fmt.Sprintf(" (default %v)", v)
		}
		if command == "" || usesOption(command, s.long) {
			text += helpRow(22, synopsis, help)
		}
	}
	return text
}

// helpRow is a line of a table of help; a left column wider than width has a line of its own.
func helpRow(width int, left, right string) string {
	if len(left) > width {
		return fmt.Sprintf("  %s\n  %*s  %s\n", left, width, "", right)
	}
	return fmt.Sprintf("  %-*s  %s\n", width, left, right)
}

func commandHelp(c commandSpec) string {
	return fmt.Sprintf("usage: procdog %s [options]\n\n%s\n%s\nexample:\n  $ %s\n\n"+
		"'procdog -h' shows every command and option.\n",
		c.synopsis(), c.help, optionsHelp(c.name), c.example)
}

// didYouMean is a hint of the name nearest word, if one is near, written as typed: after prefix.
func didYouMean(prefix, word string, names []string) string {
	if near := nearest(word, names); near != "" {
		return "did you mean '" + prefix + near + "'?"
	}
	return ""
}

// nearest is the name a typo or two from word, if one is: of names, help or version.
func nearest(word string, names []string) string {
	best, bestDist := "", 3
	for _, name := range append(slices.Clip(names), "help", "version") {
		if d := editDistance(strings.ToLower(word), name); d < bestDist && d < len(name) {
			best, bestDist = name, d
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
			switch {
			case i == 0 || j == 0:
				d[i][j] = i + j
			case a[i-1] == b[j-1]:
				d[i][j] = d[i-1][j-1]
			default:
				d[i][j] = 1 + min(d[i-1][j], d[i][j-1], d[i-1][j-1])
			}
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

// ---------------------------------------------------------------------------
// Client.

type client struct {
	dir, name string
	o         options
	command   string        // as the user typed it, for messages: start, restart or export
	spawned   *atomic.Int64 // if not nil, the pid of the monitor start spawned, until it is busy
	only      int           // if not 0, the pid of the one monitor to talk to
	warnings  io.Writer     // where start says it kept other options
}

// request sends line to NAME's monitor, or with none, acts on NAME's orphan as it would.
func (c client) request(line string) (response, error) {
	answer, alive, err := c.exchange(line + withDetails)
	if alive && answer == codeInvalid { // a monitor of an older procdog, which tells none
		answer, alive, err = c.exchange(line)
	}
	if err != nil || alive {
		return parseResponse(answer), err
	}
	pid, ok := findOrphan(c.dir, c.name)
	if !ok || c.only != 0 { // a request for one monitor is none of an orphan's business
		return newResponse(codeStopped), nil
	}
	switch verb, arg, _ := strings.Cut(line, " "); verb {
	case "signal":
		sig, _ := parseSignal(arg) // 0, harmless, if invalid
		syscall.Kill(-pid, sig)
	case "stop":
		// The group's id stays reserved while any member lives: no one else gets the signals.
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
		return newResponse(codeKilled, "signal", int(sig)), nil
	}
	return newResponse(codeRunning, "orphaned", 1, "pid", pid), nil
}

// start starts NAME unless it runs; started tells whether this call did. While another
// monitor owns the name, its lock is polled, slower and slower: each poll is a line in its log.
func (c client) start() (r response, started bool, err error) {
	if err = c.checkStartable(&c.o); err != nil {
		return r, false, err
	} else if err = os.MkdirAll(c.dir, 0o700); err != nil {
		return r, false, failf(exitUnknown, "cannot make the state directory: %v", err)
	} else if err = checkStateDir(c.dir); err != nil {
		return r, false, err // made meanwhile by another user
	}
	c.spawned = cmp.Or(c.spawned, new(atomic.Int64))
	wait := seconds(c.o.Settle) + seconds(c.o.HealthTimeout) + answerSlack
	var poll time.Duration // 0 until another monitor is found owning the name
	for deadline := time.Now().Add(wait + maxRestartDelay); time.Now().Before(deadline); {
		r, err = c.request("status")
		if err != nil || r.code != codeStopped && r.code != codeExited {
			if err == nil && c.o.Strict {
				err = failf(exitAlreadyRunning, "process '%s' is already running", c.name)
			} else if err == nil && r.code == codeRunning {
				c.warnOfOtherOptions()
			}
			return r, false, err
		}
		if poll > 0 && lockHeld(statePath(c.dir, c.name, "lock")) {
			time.Sleep(poll)
			poll = min(2*poll, maxLockPoll)
		} else if r, err = c.spawnMonitor(wait); err != nil || r.code != codeBusy {
			return r, err == nil, err
		} else {
			c.spawned.Store(0) // it started nothing: a Ctrl-C now stops nothing
			poll = lockPollInterval
		}
	}
	return r, false, failf(exitUnknown, "gave up starting '%s': its lock stays held", c.name)
}

// warnOfOtherOptions says which options of what runs, where and how, a start did not apply.
func (c client) warnOfOtherOptions() {
	running, ok, _ := c.monitorOptions() // ok only if it answered, without error
	what := append(strings.Fields("command shell dir env stdin stdout stderr append"), healthKeys...)
	var differ []string
	for _, s := range optionSpecs {
		if ok && slices.Contains(what, s.long) && s.value(&running) != s.value(&c.o) {
			differ = append(differ, s.key())
		}
	}
	if len(differ) > 0 {
		fmt.Fprintf(c.warnings, "procdog: warning: '%s' is already running with other options "+
			"(%s); 'procdog restart %s' with them applies them\n", c.name,
			strings.Join(differ, ", "), c.name)
	}
}

// checkStartable runs before anything starts, or stops: restart must not stop what it cannot start.
// It then makes o's paths absolute.
func (c client) checkStartable(o *options) error {
	argv, err := o.commandArgs()
	if err != nil {
		return err
	} else if strings.TrimSpace(o.Command) == "" || len(argv) == 0 || argv[0] == "" {
		err := usageErrorf("Must specify --command with '%s' or supply a command in the "+
			"config file for this id ('%s')", c.command, c.name)
		wd, _ := os.Getwd()
		hint := fmt.Sprintf("no config file found: looked for procdog.cfg in %s and its parents, "+
			"and for %s", wd, strings.Join(fallbackConfigs(), " and "))
		if path := orDefault(o.Config, findConfig()); path != "" {
			hint = fmt.Sprintf("no command for '%s' in the config file %s", c.name, path)
		}
		err.(*codedError).hint = hint
		return err
	}
	if _, err = o.healthArgs(); err == nil {
		err = o.checkHealthProbes()
	}
	if fi, statErr := os.Stat(orDefault(o.Dir, ".")); err == nil && (statErr != nil || !fi.IsDir()) {
		err = usageErrorf("Not a directory: %s", o.Dir)
	}
	return cmp.Or(err, o.resolvePaths())
}

// monitorOptions are the options of NAME's monitor; with none answering, this command's.
func (c client) monitorOptions() (o options, ok bool, err error) {
	answer, alive, err := c.exchange("options")
	if err != nil || !alive {
		return c.o, false, err
	}
	var flags []string
	for r := strings.NewReader(answer); err == nil && r.Len() > 0; {
		flags = append(flags, "")
		_, err = fmt.Fscanf(r, "%q", &flags[len(flags)-1])
	}
	if err == nil {
		o, err = optionsFromFlags(flags)
	}
	if err != nil {
		err = failf(exitUnknown, "the monitor of '%s' answered %q for its options: %v",
			c.name, answer, err)
	}
	return o, err == nil, err
}

// restartOptions stops NAME and returns the options to start it with: its monitor's, under cl's.
func (c client) restartOptions(cl commandLine) (options, error) {
	o, ok, err := c.monitorOptions()
	if ok {
		o.Strict = c.o.Strict // this command's business, as is how to print, which cl gives
		err = o.applyCommandLine(cl)
	}
	if err == nil {
		err = c.checkStartable(&o)
	}
	// The monitor refuses a health command it cannot run: after the stop, too late.
	if health, _ := o.healthArgs(); err == nil && len(health) > 0 {
		if _, err = findExecutable(health[0], orDefault(o.Dir, ".")); err != nil {
			err = failf(exitError, "Failed to run health command: %s", describeExecError(err))
		}
	}
	if err == nil {
		_, err = c.request("stop")
	}
	return o, err
}

// findOrphan finds the process of NAME's killed monitor by the pid, start time and session in
// its lock: the start time alone is as coarse as a clock tick (10 ms, or 1 s on macOS).
func findOrphan(dir, name string) (int, bool) {
	f, err := openStateFile(statePath(dir, name, "lock"), os.O_RDONLY)
	defer f.Close() // nil, which Close ignores, if none
	if err != nil || syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB) != nil {
		return 0, false // none, or a monitor holds it: it is starting or running
	}
	pid, sid, started := 0, 0, ""
	_, err = fmt.Fscanf(io.LimitReader(f, 128), "pid=%d start=%s sid=%d\n", &pid, &started, &sid)
	// Signals go to the group: a pid that leads none is not ours (and kill(-1) reaches all).
	pgid, pgErr := syscall.Getpgid(pid)
	ok := err == nil && pgErr == nil && pid > 1 && pgid == pid
	return pid, ok && processStart(pid) == started && sessionOf(pid) == sid
}

// list prints every name's status, but not stopped ones' (files left, maybe others') unless --all.
func list(dir string, o options, stdout io.Writer) error {
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) { // none: no procdog has run here yet
		return failf(exitUnknown, "cannot list the state directory: %v", err)
	}
	found := map[string]bool{}
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), "procdog.")
		name, kind, _ := strings.Cut(rest, ".")
		if ok && validName(name) && (kind == "sock" || kind == "lock" || kind == "log") {
			found[name] = true
		}
	}
	names := slices.Sorted(maps.Keys(found))
	lines := make([]string, len(names)) // "" for a name not listed
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Add(1)
		go func(i int, c client) { // as in runNames
			defer wg.Done()
			r, err := c.request("status")
			if err != nil {
				r = errorResponse("%v", err)
			} else if r.code == codeStopped && !o.All {
				return
			}
			if lines[i] = c.name + ": " + r.String(); o.JSON {
				lines[i] = r.json(c.name)
			}
		}(i, client{dir: dir, name: name, o: o})
	}
	wg.Wait()
	lines = slices.DeleteFunc(lines, func(line string) bool { return line == "" })
	if o.JSON {
		fmt.Fprintf(stdout, "[%s]\n", strings.Join(lines, ","))
	} else if len(lines) > 0 {
		fmt.Fprintln(stdout, strings.Join(lines, "\n"))
	}
	return nil
}

// logs prints, as tail does, the last lines of NAME's stdout file (--stdout, else the monitor log),
// then "==> FILE <==" and those of stderr's if another (not /dev/null); -f follows both, as
// tail -f does. Only regular files: following a FIFO or a device would hang.
func (c client) logs(stdout io.Writer) error {
	o, _, err := c.monitorOptions()
	if err != nil {
		return err
	}
	o.resolvePaths() // with no working directory, a relative --stdout fails to open
	paths := []string{o.Stdout}
	if o.Stderr != o.Stdout && o.Stderr != os.DevNull {
		paths = append(paths, o.Stderr)
	}
	files, read := []*os.File{}, make([]int64, len(paths)) // read: up to where, in each
	for _, path := range paths {
		flag, check := os.O_RDONLY, func(fi os.FileInfo) string {
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
		files = append(files, f)
	}
	for shown, first := 0, true; ; first = false {
		for i, f := range files {
			fi, err := f.Stat()
			if err == nil && first {
				read[i], err = tailStart(f, fi.Size(), c.o.Lines)
			} else if err == nil && fi.Size() < read[i] {
				read[i] = 0 // truncated: start over, as tail -f does
			}
			if err == nil && i != shown && (first || fi.Size() > read[i]) {
				fmt.Fprintf(stdout, "==> %s <==\n", f.Name())
				shown = i
			}
			if err == nil && i == shown { // to the size seen: what comes after, under a header
				_, err = io.Copy(stdout, io.NewSectionReader(f, read[i], fi.Size()-read[i]))
				read[i] = fi.Size()
			}
			if err != nil {
				return failf(exitUnknown, "reading %s: %v", f.Name(), err)
			}
		}
		if !c.o.Follow {
			return nil
		}
		time.Sleep(200 * time.Millisecond) // following a file is polling it
	}
}

// tailStart is where the last n lines of f, size bytes long, begin; a newline ending f starts none.
func tailStart(f *os.File, size int64, n int) (int64, error) {
	if n <= 0 {
		return size, nil
	}
	for end, pos := size-1, int64(0); end > 0; end = pos {
		pos = max(end-(64<<10), 0)
		b := make([]byte, end-pos)
		if _, err := f.ReadAt(b, pos); err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		for i := bytes.LastIndexByte(b, '\n'); i >= 0; i = bytes.LastIndexByte(b[:i], '\n') {
			if n--; n == 0 {
				return pos + int64(i) + 1, nil
			}
		}
	}
	return 0, nil
}

// show prints the options of NAME's monitor not at their defaults, as a config file would.
func (c client) show(stdout io.Writer) error {
	o, ok, err := c.monitorOptions()
	if err != nil {
		return err
	} else if !ok {
		printResponse(stdout, c.name, newResponse(codeStopped), c.o.JSON)
		return &codedError{code: exitNotRunning}
	}
	lines, fields := []string{}, []string{`"name":` + jsonText(c.name)}
	for _, ch := range o.changed() { // in the options' order: the command comes first
		key, value := ch.spec.key(), jsonText(ch.value)
		if ch.spec.field(&o).Kind() != reflect.String {
			value = ch.value
		}
		fields = append(fields, jsonText(key)+":"+value)
		if !fitsConfig(ch.value) {
			lines = append(lines, "# "+key+": a config file cannot hold this value as it is"+
				" (blanks at an end, or a line blank, indented or starting with # or ;)")
		}
		if value = ch.value; expandedKeys[key] {
			value = strings.ReplaceAll(value, "$", "$$") // the monitor's value is expanded
		}
		lines = append(lines, key+"="+strings.ReplaceAll(value, "\n", "\n  "))
	}
	if c.o.JSON {
		lines = []string{"{" + strings.Join(fields, ",") + "}"}
	}
	fmt.Fprintln(stdout, strings.Join(lines, "\n"))
	return nil
}

// fitsConfig tells whether parseINI reads value back as show writes it.
func fitsConfig(value string) bool {
	for i, line := range strings.Split(value, "\n") {
		t := strings.TrimSpace(line)
		if t != line || i > 0 && (t == "" || t[0] == '#' || t[0] == ';') {
			return false
		}
	}
	return true
}

// spawnMonitor runs NAME's monitor, in a new session, and reads its first answer from a pipe.
// The client keeps none of its files: whoever reads the client's output gets EOF when it exits.
func (c client) spawnMonitor(wait time.Duration) (response, error) {
	logPath := statePath(c.dir, c.name, "log")
	logFile, err := openStateFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND)
	if err != nil {
		return response{}, err
	}
	defer logFile.Close()
	exe, err := os.Executable()
	ready, readyW, pipeErr := os.Pipe() // if it fails, both are nil, which Close ignores
	defer ready.Close()
	// Never waited for, the monitor is left to init. "/" keeps no directory busy.
	cmd := exec.Command(exe, append([]string{monitorArg, c.name, c.dir}, c.o.flags()...)...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = "/", logFile, logFile
	cmd.ExtraFiles, cmd.SysProcAttr = []*os.File{readyW}, &syscall.SysProcAttr{Setsid: true}
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1") // see savedGOMAXPROCS
	if v, ok := os.LookupEnv("GOMAXPROCS"); ok {
		cmd.Env = append(cmd.Env, savedGOMAXPROCS+"="+v)
	}
	debugf("spawning monitor: %s %s", exe, monitorArg)
	// Keep what the caller left open (a pipe, a lock) from the monitor.
	entries, fdErr := os.ReadDir("/dev/fd")
	for fd := 3; fdErr != nil && fd < 1024; fd++ { // no /dev/fd (no /proc on Linux): mark them all
		syscall.CloseOnExec(fd)
	}
	for _, e := range entries {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
			syscall.CloseOnExec(fd)
		}
	}
	c.spawned.Store(-1) // starting: a Ctrl-C now waits for its pid
	if err = cmp.Or(err, pipeErr); err == nil {
		err = cmd.Start()
	}
	readyW.Close()
	if err != nil {
		c.spawned.Store(0)
		return response{}, failf(exitUnknown, "cannot start the monitor: %v", err)
	}
	c.spawned.Store(int64(cmd.Process.Pid))
	cmd.Process.Release()
	ready.SetReadDeadline(time.Now().Add(wait))
	line, err := bufio.NewReader(ready).ReadString('\n')
	if err != nil {
		return response{}, failf(exitUnknown, "the monitor of '%s' did not answer (%v); see %s",
			c.name, err, logPath)
	} else if r := parseResponse(line); !strings.HasPrefix(r.msg, cannotRecord) {
		return r, nil
	}
	return response{}, failf(exitUnknown, "%s", parseResponse(line).msg)
}

// startHealthy is start --ensure-healthy. Ctrl-C at any moment stops what it spawned, at once.
func (c client) startHealthy(stdout io.Writer) (response, error) {
	interrupt := make(chan os.Signal, 1)
	signal.Notify(interrupt, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(interrupt)
	c.spawned = new(atomic.Int64)
	r, started, err := response{}, false, error(nil)
	var ended atomic.Bool // r, started and err are read once it is set, or done closed
	done := make(chan struct{})
	go func() {
		defer func() { ended.Store(true); close(done) }()
		if r, started, err = c.start(); started && r.code == codeRunning && !r.healthy() {
			r, err = c.request("wait")
		}
	}()
	select {
	case <-done: // and if a Ctrl-C came with it, on to stop what it started
		if len(interrupt) == 0 && started && err == nil && r.code == codeRunning && !r.healthy() {
			stop, err := c.request("stop")
			stop.healthError, stop.checks = r.healthError, r.checks+1 // and start's own check
			return stop, err
		} else if len(interrupt) == 0 {
			return r, err
		}
	case <-interrupt:
	}
	// Until its socket is in place, the spawned monitor cannot be told to stop; and until
	// then, the socket may be another monitor's, which owns the name: stop only ours.
	interrupted := &codedError{code: exitInterrupted, msg: "interrupted"} // 130, as a shell's
	for ours := c; ; time.Sleep(20 * time.Millisecond) {
		finished := ended.Load()
		if ours.only = int(c.spawned.Load()); finished && !started {
			return r, cmp.Or(err, error(interrupted))
		} else if ours.only == 0 {
			return response{}, interrupted
		}
		stop, err := ours.request("stop") // not the start's err, which it may be writing
		if ours.only > 0 && (finished || err != nil || stop.code != codeStopped) {
			if err == nil {
				printResponse(stdout, c.name, stop, c.o.JSON)
				interrupted.msg, err = "interrupted; stopped '"+c.name+"'", interrupted
			}
			return response{}, err
		}
	}
}

// exchange sends line to NAME's monitor and returns its answer; alive is false with no monitor.
func (c client) exchange(line string) (answer string, alive bool, err error) {
	path := statePath(c.dir, c.name, "sock")
	debugf("sending %q to %s", line, path)
	fi, err := os.Lstat(path) // none is no monitor, as ask finds
	if err == nil && stateFileProblem(fi) != "" {
		err = failf(exitUnknown, "refusing to use %s: %s", path, stateFileProblem(fi))
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		err = failf(exitUnknown, "cannot use %s: %v", path, err)
	} else {
		answer, err = c.ask(line, livenessInterval)
	}
	if answer == "" && monitorGone(err) {
		return "", false, nil
	} else if err != nil && !errors.As(err, new(*codedError)) {
		err = failf(exitUnknown, "cannot talk to the monitor of '%s': %v", c.name, err)
	}
	debugf("answer: %q, error: %v", answer, err)
	return strings.TrimRight(answer, "\n"), err == nil, err
}

// ask sends line to NAME's monitor and reads its answer. A request waits as long as a probe,
// every livenessInterval, shows the monitor is not wedged: it answers options at once. A probe
// waits probeDeadline, once.
func (c client) ask(line string, wait time.Duration) (answer string, err error) {
	conn, err := dialMonitor(statePath(c.dir, c.name, "sock"), c.only)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	conn.SetWriteDeadline(time.Now().Add(requestDeadline))
	if _, err := io.WriteString(conn, line+"\n"); err != nil {
		return "", err
	}
	for reader, gone := bufio.NewReader(conn), 0; ; {
		conn.SetReadDeadline(time.Now().Add(wait))
		part, err := reader.ReadString('\n')
		answer += part // what came before a deadline is part of the answer
		if wait == probeDeadline || !errors.Is(err, os.ErrDeadlineExceeded) {
			return answer, err
		}
		// A socket gone is an ending monitor's, or one's that puts it back: conn tells if it dies.
		if _, err = c.ask("options", probeDeadline); err == nil {
			gone = 0
		} else if !monitorGone(err) {
			return "", failf(exitUnknown, "the monitor of '%s' does not answer: %v", c.name, err)
		} else if gone++; time.Duration(gone)*livenessInterval > 4*healInterval {
			return "", err // the socket stays gone
		}
	}
}

// monitorGone tells whether err means no monitor; one that ends resets unaccepted connections.
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

type monitorState int

const (
	running    monitorState = iota
	stopping                // the stop signal was sent; SIGKILL at the deadline
	ending                  // the process exited; what is left of its group is being ended
	restarting              // waiting to start the process again
	lingering               // the process exited for good; answering until the deadline
	closing                 // answering the requests in flight, and no more
)

// monitor runs one process, again when its restart policy says so. The fields after events
// belong to the loop goroutine alone.
type monitor struct {
	name, dir      string // of the state files: statePath's arguments
	o              options
	argv, health   []string
	watch          *logWatch     // --health-log
	notify         *net.UnixConn // --health-notify's socket, till the linger
	logOut         *os.File      // the monitor log; the process's output by default
	stdout, stderr *os.File      // open till the linger: restarts write on
	events         chan func()

	state          monitorState
	run            *childRun     // the current or last run
	lock           *os.File      // flocked until the process has exited for good
	sockInfo       os.FileInfo   // the socket this monitor bound, not a newer monitor's
	stopped, quit  bool          // a stop came: no restart follows; a signal: no linger
	delay          time.Duration // before the next restart
	runs, inFlight int
	checks         context.Context // of the health checks, ended when a stop begins
	endChecks      context.CancelFunc
	healthLast     *int      // the last check's health, logged as it changes
	notifyStatus   string    // the process's last STATUS= on its notify socket
	quietUntil     time.Time // of the lines about dropped connections
	suppressed     int
}

type childRun struct {
	pid, returncode int
	started         time.Time
	exited          chan struct{}  // closed by the loop once the process has been reaped
	stopSignal      syscall.Signal // sent by a stop, if one came
	deadline        time.Time      // of the stop
	ready           chan struct{}  // closed by markReady when the process says it is ready
	readyOnce       sync.Once      // for a process may say it more than once
	logStart        []int64        // the output files' sizes when it started, for --health-log
}

func (r *childRun) markReady() { r.readyOnce.Do(func() { close(r.ready) }) }

func (m *monitor) path(kind string) string { return statePath(m.dir, m.name, kind) }

const logTime = "2006-01-02T15:04:05.000Z"

func (m *monitor) logf(format string, args ...any) {
	fmt.Fprintf(m.logOut, "%s procdog[%d] %s: %s\n", time.Now().UTC().Format(logTime),
		os.Getpid(), m.name, fmt.Sprintf(format, args...))
}

// savedGOMAXPROCS carries the user's GOMAXPROCS past the monitor, run with 1 to save memory.
const savedGOMAXPROCS = "PROCDOG_GOMAXPROCS"

// runMonitor is the monitor's main. Its first answer goes to fd 3, the spawning client's pipe.
func runMonitor(args []string) int {
	os.Unsetenv("GOMAXPROCS")
	if v, ok := os.LookupEnv(savedGOMAXPROCS); ok {
		os.Setenv("GOMAXPROCS", v)
		os.Unsetenv(savedGOMAXPROCS)
	}
	// Caught from the start: a shell's background job ignores SIGINT and SIGQUIT, and exec
	// passes on an ignored signal, not a caught one.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGHUP)
	syscall.CloseOnExec(3)          // the process must not hold the client's pipe open
	ready := os.NewFile(3, "ready") // open till the monitor exits: the client reads one line
	answerClient := func(r response) { fmt.Fprintln(ready, r.detailed()) }
	if len(args) < 2 {
		answerClient(errorResponse("a monitor needs a name and a state directory"))
		return exitUnknown
	}
	o, err := optionsFromFlags(args[2:])
	if err != nil {
		answerClient(errorResponse("bad monitor options: %v", err))
		return exitUnknown
	}
	m := &monitor{name: args[0], dir: args[1], o: o, logOut: os.Stderr, events: make(chan func()),
		delay: min(seconds(o.RestartDelay), maxRestartDelay)}
	m.logf("monitor starting with options: %s", m.o.summary())
	if err := m.setUp(); err == errLockBusy {
		m.logf("another monitor owns '%s'; exiting", m.name)
		answerClient(newResponse(codeBusy))
		return exitOK
	} else if err != nil {
		answerClient(errorResponse("%v", err))
		return exitError
	}
	// In flight, so that a process that exits at once cannot end the monitor before it answers.
	m.inFlight = 1
	go func(exited chan struct{}) {
		select {
		case <-exited:
		case <-time.After(seconds(m.o.Settle)):
		}
		answerClient(m.status(m.o))
		m.events <- func() { m.inFlight-- }
	}(m.run.exited)
	m.loop(sigs)
	// The socket goes if still this monitor's: if the lock is taken, a newer monitor owns the
	// name and the socket.
	if lock, err := acquireLock(m.path("lock")); err == nil {
		if stillAt(m.path("sock"), m.sockInfo) {
			os.Remove(m.path("sock"))
		}
		releaseLock(lock)
	}
	m.logf("monitor exiting")
	return exitOK
}

// setUp takes the lock, checks all it can and starts the first run; once it has the lock, a
// failure leaves nothing behind but a line in the log.
func (m *monitor) setUp() (err error) {
	if m.lock, err = acquireLock(m.path("lock")); err != nil {
		return err
	}
	defer func() {
		if err == nil {
			return
		} else if m.run != nil {
			syscall.Kill(-m.run.pid, syscall.SIGKILL)
		}
		m.closeNotify()
		releaseLock(m.lock)
		m.logf("%v", err)
	}()
	// The client has checked the options before it wrote them as flags.
	m.argv, _ = m.o.commandArgs()
	m.health, _ = m.o.healthArgs()
	if err := m.prepareChecks(); err != nil {
		return err
	}
	// Each run opens its input afresh: checked before the outputs are truncated.
	stdin, err := openStd("stdin", m.o.Stdin, os.O_RDONLY)
	if err == nil {
		stdin.Close()
		m.stdout, m.stderr, err = openOutputs(m.o, m.logOut)
	}
	if err != nil {
		return err
	}
	header := fmt.Sprintf("procdog: %s Starting process '%s' with options: %s\n",
		time.Now().UTC().Format("2006-01-02T15:04:05Z"), m.name, m.o.summary())
	// No header in the monitor log, nor in a FIFO whose reader may not read yet.
	for _, f := range slices.Compact([]*os.File{m.stdout, m.stderr}) {
		fi, err := f.Stat()
		if regular := err == nil && fi.Mode().IsRegular(); !regular && m.watch != nil {
			return fmt.Errorf("--health-log reads the process's output, "+
				"and %s is not a regular file", f.Name())
		} else if regular && f != m.logOut {
			if !m.o.Append {
				f.Truncate(0)
			}
			io.WriteString(f, header)
		}
	}
	return m.putSocket(m.startRun)
}

// putSocket binds the socket under a temporary name, calls start and renames it into place:
// a client that finds the socket finds a process, and sees the old socket or the new one.
func (m *monitor) putSocket(start func() error) error {
	tmp := m.path("sock") + newSocketSuffix
	os.Remove(tmp)
	ln, err := listenUnix(tmp)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %v", tmp, err)
	}
	if err = start(); err == nil {
		if err = os.Rename(tmp, m.path("sock")); err != nil {
			err = fmt.Errorf("cannot put the socket in place: %v", err)
		} else if m.sockInfo, err = os.Lstat(m.path("sock")); err != nil {
			err = fmt.Errorf("cannot find the socket: %v", err)
		}
	}
	if err == nil {
		go m.accept(ln)
	} else {
		ln.Close()
		os.Remove(tmp)
	}
	return err
}

// loop alone changes the monitor's state, so nothing needs a lock. Other goroutines do what
// takes time and send the loop a func to run on its result.
func (m *monitor) loop(sigs <-chan os.Signal) {
	heal := time.NewTicker(healInterval)
	for m.state != closing || m.inFlight > 0 {
		select {
		case f := <-m.events:
			f()
		case <-heal.C:
			m.heal()
		case sig := <-sigs:
			// A signal ends the monitor, lingering or not; with no terminal, a SIGHUP is a stray.
			if sig != syscall.SIGHUP && !m.quit {
				m.quit = true
				m.logf("received %v: stopping the process", sig)
				m.stop()
				if m.state == lingering {
					m.state = closing
				}
			}
		}
	}
}

func (m *monitor) do(f func()) {
	done := make(chan struct{})
	m.events <- func() { f(); close(done) }
	<-done
}

// after runs f on the loop once d has passed; f checks that the state it is for still holds.
func (m *monitor) after(d time.Duration, f func()) {
	time.AfterFunc(d, func() { m.events <- f })
}

func (m *monitor) response() response {
	r := newResponse(codeExited, "returncode", m.run.returncode)
	if m.state == running || m.state == stopping {
		r = newResponse(codeRunning, "pid", m.run.pid)
		r.notifyStatus = m.notifyStatus
	}
	if m.runs > 1 {
		r.values["restarts"] = m.runs - 1
	}
	return r
}

// stop signals the process group, so that a shell's children end too; it returns the run
// whose exit the stop waits for, if any.
func (m *monitor) stop() *childRun {
	m.stopped = true
	switch r := m.run; m.state {
	case running:
		r.stopSignal, _ = parseSignal(string(m.o.StopSignal))
		m.state, r.deadline = stopping, time.Now().Add(seconds(m.o.StopTimeout))
		m.after(time.Until(r.deadline), func() {
			if m.state == stopping {
				m.logf("process %d outlived the stop timeout; sending SIGKILL to its group", r.pid)
				r.stopSignal = syscall.SIGKILL
				syscall.Kill(-r.pid, syscall.SIGKILL)
			}
		})
		m.endChecks() // so that a start waiting on a check acts on Ctrl-C at once
		fallthrough
	case stopping:
		signalGroup(r.pid, r.stopSignal)
		return r
	case restarting:
		m.linger()
	}
	return nil
}

// exited ends what is left of the group, which would hold the process's port or files
// unwatched. The group id stays reserved while any member lives: this hits no one else.
func (m *monitor) exited(r *childRun, code int) {
	r.returncode = code
	close(r.exited)
	m.logf("process exited: returncode=%d", code)
	m.state = ending
	m.checks, m.endChecks = context.WithCancel(context.Background())
	sig, deadline := syscall.Signal(0), r.deadline // a stop sent its signal already
	if r.stopSignal == 0 {
		sig, _ = parseSignal(string(m.o.StopSignal))
		deadline = time.Now().Add(seconds(m.o.StopTimeout))
	}
	go func() {
		if groupLives(r.pid) {
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

func (m *monitor) afterRun() {
	failed := m.run.returncode != 0
	due := !m.stopped && (m.o.Restart == "always" || m.o.Restart == "on-failure" && failed)
	if due && m.runs > m.o.MaxRestarts {
		m.logf("not restarting: %d restarts were allowed", m.o.MaxRestarts)
	} else if due {
		m.logf("restarting in %v", m.delay)
		m.state = restarting
		m.after(m.delay, func() {
			if m.state != restarting {
				return // a stop came meanwhile
			} else if err := m.startRun(); err != nil {
				m.logf("not restarting: %v", err)
				m.linger()
			}
		})
		m.delay = min(2*m.delay, maxRestartDelay)
		return
	}
	m.linger()
}

func (m *monitor) linger() {
	m.closeNotify()
	releaseLock(m.lock)
	for _, f := range []*os.File{m.stdout, m.stderr} {
		if f != m.logOut {
			f.Close()
		}
	}
	m.state = closing
	if !m.quit {
		m.state = lingering
		m.after(seconds(m.o.Linger), func() { m.state = closing })
	}
}

// prepareChecks watches the output or the notify socket for a run's readiness, or finds the
// health command before the start: else every answer would be an error, the process unwatched.
func (m *monitor) prepareChecks() error {
	switch {
	case m.o.HealthLog != "": // a pattern checkStartable compiled
		log := m.path("log")
		paths := []string{orDefault(m.o.Stdout, log), orDefault(m.o.Stderr, log)}
		m.watch = &logWatch{pattern: regexp.MustCompile(m.o.HealthLog), name: m.name,
			runs: make(chan *childRun, 1), paths: slices.Compact(paths)}
		go m.watch.serve((*childRun).markReady)
	case m.o.HealthNotify:
		return m.listenNotify()
	case len(m.health) > 0:
		if _, err := m.command(context.Background(), m.health); err != nil {
			return fmt.Errorf("Failed to run health command: %s", describeExecError(err))
		}
	}
	return nil
}

// listenNotify binds the notify socket, in place of any before, and reads it. One it cannot
// read is removed, for heal to try again: the process's NOTIFY_SOCKET names the path.
func (m *monitor) listenNotify() (err error) {
	m.closeNotify()
	path := m.path("notify")
	os.Remove(path) // a monitor's that was killed: only the lock's holder gets here
	m.notify, err = ownerOnly(func() (*net.UnixConn, error) {
		return net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	})
	if err == nil && runtime.GOOS == "linux" { // have the kernel tell who sent each datagram
		rc, _ := m.notify.SyscallConn()
		rc.Control(func(fd uintptr) {
			err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, soPasscred, 1)
		})
	}
	if err != nil {
		m.closeNotify()
		return fmt.Errorf("cannot listen on %s: %v", path, err)
	}
	go m.readNotify(m.notify)
	return nil
}

// readNotify reads the notify datagrams, at most 4 KiB each (longer ones are dropped), and
// closes the descriptors they carry at once: systemd-notify waits until they are closed. It
// believes one from this user's process in the process's group, as far as the system tells;
// the socket is owner-only, so only the user can send.
func (m *monitor) readNotify(conn *net.UnixConn) {
	buf, oob := make([]byte, 4097), make([]byte, 512)
	for {
		n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
		if err != nil {
			return // closed
		}
		// macOS does not tell who sent it; Linux does, and a datagram without says nobody.
		pgid, mine := -1, runtime.GOOS != "linux" // -1: unknown
		msgs, _ := syscall.ParseSocketControlMessage(oob[:oobn])
		for _, cm := range msgs {
			if cm.Header.Level == syscall.SOL_SOCKET && cm.Header.Type == 2 && len(cm.Data) >= 12 &&
				runtime.GOOS == "linux" { // SCM_CREDENTIALS: struct ucred {pid, uid, gid}
				cred := (*[3]int32)(unsafe.Pointer(&cm.Data[0]))
				mine = int(uint32(cred[1])) == os.Getuid()
				if g, err := syscall.Getpgid(int(cred[0])); err == nil {
					pgid = g // else a sender that has gone already, all but known
				}
			}
		}
		for _, cm := range msgs { // only now: a sender that waits for them may then exit
			fds, _ := syscall.ParseUnixRights(&cm)
			for _, fd := range fds {
				syscall.Close(fd)
			}
		}
		if text := string(buf[:n]); n < len(buf) && mine {
			m.events <- func() { m.notified(pgid, text) }
		}
	}
}

func (m *monitor) notified(pgid int, text string) {
	if m.state != running || pgid != -1 && pgid != m.run.pid {
		return
	}
	for _, line := range strings.Split(text, "\n") {
		if status, ok := strings.CutPrefix(line, "STATUS="); ok {
			m.notifyStatus = status
		} else if line == "READY=1" {
			m.run.markReady()
		}
	}
}

func (m *monitor) closeNotify() {
	if m.notify != nil {
		m.notify.Close()
		os.Remove(m.path("notify"))
		m.notify = nil
	}
}

// startRun starts the process leading a new process group, so that a stop or a signal
// reaches everything it starts.
func (m *monitor) startRun() error {
	cmd, err := m.command(context.Background(), m.argv)
	if err != nil {
		return fmt.Errorf("Failed to start: %s", describeExecError(err))
	}
	stdin, err := openStd("stdin", m.o.Stdin, os.O_RDONLY)
	if err != nil {
		return err
	}
	defer stdin.Close()
	r := &childRun{started: time.Now(), exited: make(chan struct{}), ready: make(chan struct{})}
	if m.watch != nil { // it follows r from where the output ends before r starts
		r.logStart = make([]int64, len(m.watch.paths))
		for i, p := range m.watch.paths {
			if fi, err := os.Stat(p); err == nil {
				r.logStart[i] = fi.Size()
			}
		}
		select { // only the loop sends: once drained, the channel has room
		case <-m.watch.runs:
		default:
		}
		m.watch.runs <- r
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, m.stdout, m.stderr
	if m.o.HealthNotify {
		cmd.Env = append(cmd.Env, "NOTIFY_SOCKET="+m.path("notify"))
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("Failed to start: %s", describeExecError(err))
	}
	r.pid = cmd.Process.Pid
	if err := m.recordRun(r.pid); err != nil {
		syscall.Kill(-r.pid, syscall.SIGKILL) // unrecorded, it would be lost with the monitor
		cmd.Wait()
		return err
	}
	go func() {
		cmd.Wait()
		m.events <- func() { m.exited(r, exitCode(cmd.ProcessState)) }
	}()
	m.run, m.state, m.notifyStatus, m.runs = r, running, "", m.runs+1
	m.checks, m.endChecks = context.WithCancel(context.Background())
	m.logf("started pid %d: %q", r.pid, m.argv)
	return nil
}

// recordRun notes the process in the lock file, for findOrphan: its pid, and its start time and
// session, which a process that gets the pid later does not share.
func (m *monitor) recordRun(pid int) error {
	record := fmt.Sprintf("pid=%d start=%s sid=%d\n", pid, processStart(pid), sessionOf(pid))
	_, err := m.lock.WriteAt([]byte(record), 0)
	if err = cmp.Or(err, m.lock.Truncate(int64(len(record)))); err != nil {
		return fmt.Errorf("%s%d, to find it should the monitor end: %v", cannotRecord, pid, err)
	}
	return nil
}

// cannotRecord starts the error of a start that could not record its process: the client
// fails it with exit 3, as a state file it refuses.
const cannotRecord = "cannot record process "

// command runs argv as the process runs, and says if its executable or directory is gone.
// Environ sets PWD for Dir as a shell would; os/exec keeps the last value of a name.
func (m *monitor) command(ctx context.Context, argv []string) (*exec.Cmd, error) {
	_, err := findExecutable(argv[0], m.o.Dir)
	if fi, serr := os.Stat(orDefault(m.o.Dir, ".")); serr != nil || !fi.IsDir() {
		err = fmt.Errorf("directory %s is gone", m.o.Dir)
	}
	cmd := exec.CommandContext(ctx, argv[0]) // as given: a name with a slash is relative to Dir
	cmd.Args, cmd.Dir = argv, m.o.Dir
	added, _ := m.o.Env.vars() // checked when the options were set
	cmd.Env = append(cmd.Environ(), added...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd, err
}

// heal puts back the state directory, lock file and sockets that a tmp cleaner removed: else
// clients would start a second copy.
func (m *monitor) heal() {
	if m.state == lingering || m.state == closing {
		return
	} else if err := cmp.Or(os.MkdirAll(m.dir, 0o700), checkStateDir(m.dir)); err != nil {
		m.logf("cannot put the state directory back: %v", err)
		return
	}
	if fi, _ := m.lock.Stat(); !stillAt(m.path("lock"), fi) {
		if lock, err := acquireLock(m.path("lock")); err != nil {
			m.logf("cannot put the lock file back: %v", err)
		} else {
			m.lock.Close()
			m.lock = lock
			m.logf("put the lock file back")
			if err := m.recordRun(m.run.pid); err != nil {
				m.logf("%v", err)
			}
		}
	}
	putBack := func(what, path string, put func() error) {
		if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
			return
		} else if err := put(); err != nil {
			m.logf("cannot put the %s back: %v", what, err)
		} else {
			m.logf("put the %s back", what)
		}
	}
	if m.o.HealthNotify {
		putBack("notify socket", m.path("notify"), m.listenNotify)
	}
	putBack("socket", m.path("sock"),
		func() error { return m.putSocket(func() error { return nil }) })
}

// logDropped logs at most once a second: a flood of bad clients must not fill the disk.
func (m *monitor) logDropped(why string) {
	if time.Now().Before(m.quietUntil) {
		m.suppressed++
		return
	} else if m.suppressed > 0 {
		why += fmt.Sprintf(" (and %d such lines left out before)", m.suppressed)
	}
	m.suppressed, m.quietUntil = 0, time.Now().Add(time.Second)
	m.logf("%s", why)
}

// accept serves each connection in a goroutine, so that a slow one delays nobody else, till
// the monitor exits.
func (m *monitor) accept(ln net.Listener) {
	for backoff := 10 * time.Millisecond; ; {
		if conn, err := ln.Accept(); err == nil {
			backoff = 10 * time.Millisecond
			go m.serve(conn)
		} else {
			// Out of descriptors, say: give the handlers time to free some.
			m.events <- func() { m.logDropped("accept: " + err.Error()) }
			time.Sleep(backoff)
			backoff = min(2*backoff, time.Second)
		}
	}
}

func (m *monitor) serve(conn net.Conn) {
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(requestDeadline))
	line, err := bufio.NewReaderSize(conn, maxRequestLine).ReadSlice('\n')
	if err != nil && !(errors.Is(err, io.EOF) && len(line) > 0) {
		why := ": " + err.Error()
		switch {
		case errors.Is(err, io.EOF):
			return
		case errors.Is(err, os.ErrDeadlineExceeded):
			why = fmt.Sprintf(" that sent no request within %v", requestDeadline)
		case errors.Is(err, bufio.ErrBufferFull):
			why = fmt.Sprintf(" whose request is longer than %d bytes", maxRequestLine)
		}
		m.do(func() { m.logDropped("dropped a connection" + why) }) // before the client sees EOF
		return
	}
	req, detailed := strings.CutSuffix(strings.TrimSpace(string(line)), withDetails)
	// options is answered even when closing, to tell a wedged monitor, and not logged, as
	// logs asks for it.
	answer := m.o.quotedFlags()
	if req != "options" {
		var closed bool
		m.do(func() { closed, m.inFlight = m.state == closing, m.inFlight+1 })
		defer func() { m.events <- func() { m.inFlight-- } }()
		if closed {
			return // the client reads end of file: this monitor has ended
		}
		// A client that gave up (timeout, Ctrl-C) must find nothing done later in its name.
		if verb, _, _ := strings.Cut(req, " "); verb == "stop" || verb == "signal" {
			pid, _, err := peerCred(conn.(*net.UnixConn))
			if err == nil && pid > 0 && errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
				m.logf("request %q: not acted on, its client has gone", req)
				return
			}
		}
		r := m.answer(req)
		answer = r.String()
		m.logf("request %q: %s", req, answer)
		if detailed {
			answer = r.detailed()
		}
	}
	conn.SetWriteDeadline(time.Now().Add(requestDeadline))
	io.WriteString(conn, answer+"\n")
}

func (m *monitor) answer(req string) response {
	verb, arg, _ := strings.Cut(req, " ")
	sig, sigErr := parseSignal(arg)
	r := newResponse(codeInvalid)
	switch {
	case req == "" || req == "status":
		r = m.status(m.o)
	case verb == "wait": // "wait COUNT DELAY TIMEOUT" is a wait with options of its own
		o, fields := m.o, strings.Fields(cmp.Or(arg, "- - -"))
		for i, long := range []string{"health-count", "health-delay", "health-timeout"} {
			s, _ := findOption(long)
			if len(fields) != 3 || fields[i] != "-" && s.set(&o, fields[i]) != nil {
				return r
			}
		}
		r = m.wait(o)
	case req == "stop":
		var stopping *childRun
		m.do(func() { r, stopping = m.response(), m.stop() })
		if stopping != nil { // it was running, and no restart follows a stop
			<-stopping.exited
			delete(r.values, "pid")
			r.code, r.values["signal"], r.notifyStatus = codeKilled, int(stopping.stopSignal), ""
		}
	case verb == "signal" && sigErr == nil:
		m.do(func() {
			if m.state == running || m.state == stopping {
				m.logf("sending signal %d to process group %d", sig, m.run.pid)
				syscall.Kill(-m.run.pid, sig)
			}
		})
		r = m.status(m.o)
	}
	return r
}

// status runs the health check, if any, before it takes the state: a process that exited
// meanwhile is not running. Each check is bounded by the health timeout, so that none can hang
// a monitor; a stop ends checks, and a health command.
func (m *monitor) status(o options) (r response) {
	var run *childRun
	var checks context.Context
	m.do(func() { r, run, checks = m.response(), m.run, m.checks })
	health, why, timeout := 0, "", seconds(o.HealthTimeout)
	switch {
	case m.o.healthKinds() == 0:
		return r
	case m.o.HealthURL != "" || m.o.HealthTCP != "":
		why = probe(m.o.HealthURL, m.o.HealthTCP, timeout)
	case m.watch != nil && !m.watch.matches(run, time.Now().Add(timeout)):
		why = "no line has matched " + m.o.HealthLog + " since the process started"
	case m.o.HealthNotify:
		select {
		case <-run.ready:
		default:
			why = "no READY=1 on $NOTIFY_SOCKET since the process started"
		}
	case len(m.health) > 0 && checks.Err() != nil:
		health, why = -9, "health command not run: the process is being stopped"
	case len(m.health) > 0:
		var err error
		if health, why, err = m.commandCheck(checks, timeout); err != nil {
			return errorResponse("%v", err)
		}
	}
	if why != "" && health == 0 {
		health = 1 // a probe, log or notify check's failure
	}
	why = strings.NewReplacer("\n", " ", "\r", " ").Replace(why) // health-error is one line
	m.do(func() {
		if m.run != run && health == 0 { // its readiness was the last run's
			health, why = 1, "the process restarted during the health check"
		}
		switch {
		case m.healthLast != nil && health == *m.healthLast:
		case health == 0:
			m.logf("health check passed")
		default:
			m.logf("health check failed (health=%d): %s", health, why)
		}
		m.healthLast = &health
		r = m.response()
		r.values["health"], r.healthError = health, why
	})
	return r
}

// wait checks until the process is healthy or has exited, or the budget is spent: o's
// health_count checks, and (health_count-1) health_delays. Checks come sooner at first,
// after a pause of 1/20 of the process's age, from 10 ms (50 ms for a command) up to the
// delay, and at once when the process says it is ready.
func (m *monitor) wait(o options) (r response) {
	floor, delay := 10*time.Millisecond, seconds(o.HealthDelay)
	if m.o.HealthCommand != "" {
		floor = 50 * time.Millisecond
	}
	deadline := time.Now().Add(time.Duration(max(o.HealthCount-1, 0)) * delay)
	for checks := 1; ; checks++ {
		r = m.status(o)
		var run *childRun
		m.do(func() { run = m.run })
		r.checks = checks
		if r.code != codeRunning || r.healthy() ||
			checks >= o.HealthCount && !time.Now().Before(deadline) {
			return r
		}
		pause := min(max(time.Since(run.started)/20, floor), delay)
		if left := time.Until(deadline); left > 0 {
			pause = min(pause, left)
		}
		select {
		case <-run.exited:
		case <-run.ready:
		case <-time.After(pause):
		}
	}
}

// commandCheck runs the health command and says why it failed, if it did.
func (m *monitor) commandCheck(checks context.Context, timeout time.Duration) (int, string, error) {
	ctx, cancel := context.WithTimeout(checks, timeout)
	defer cancel()
	cmd, err := m.command(ctx, m.health)
	stderr := &lastLine{log: m.logOut}
	cmd.Stdout, cmd.Stderr = m.logOut, stderr
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 100 * time.Millisecond // for a child that holds its stderr open
	if err == nil {
		err = cmd.Start()
	}
	if err != nil {
		return 0, "", fmt.Errorf("Failed to run health command: %s", describeExecError(err))
	}
	cmd.Wait()
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // what it left would outlive the monitor
	health, why := exitCode(cmd.ProcessState), ""
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		m.logf("health check killed after %gs", timeout.Seconds())
		why = fmt.Sprintf("health command killed after %gs", timeout.Seconds())
	}
	return health, healthCommandFailure(health, why, stderr.String()), nil
}

func healthCommandFailure(health int, why, lastLine string) string {
	if health == 0 {
		return ""
	} else if why == "" && health < 0 {
		why = fmt.Sprintf("health command ended by signal %d", -health)
	} else if why == "" {
		why = fmt.Sprintf("health command exited with %d", health)
	}
	return strings.TrimSuffix(why+": "+lastLine, ": ") // a trimmed line ends in no space
}

// lastLine keeps 200 bytes of the last non-blank line on its way to the log, whose errors (a
// full disk) it ignores: else the health command would die of SIGPIPE.
type lastLine struct {
	log  io.Writer
	line []byte // the line being written, its first 200 bytes
	last string
}

func (l *lastLine) Write(p []byte) (int, error) {
	l.log.Write(p)
	for _, c := range p {
		if c == '\n' {
			l.last, l.line = cmp.Or(strings.TrimSpace(string(l.line)), l.last), l.line[:0]
		} else if len(l.line) < 200 {
			l.line = append(l.line, c)
		}
	}
	return len(p), nil
}

func (l *lastLine) String() string {
	last := cmp.Or(strings.TrimSpace(string(l.line)), l.last)
	if len(last) >= 200 {
		return last + "..."
	}
	return last
}

func probeFailure(addr string, err error, timeout time.Duration) string {
	var ne net.Error
	var oe *net.OpError
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Sprintf("no answer within %v", timeout)
	} else if !errors.As(err, &oe) || oe.Op != "dial" {
		return err.Error()
	} else if se, ok := oe.Err.(*os.SyscallError); ok {
		err = se.Err // not "dial tcp ...: connect: ..."
	}
	return "connect " + addr + ": " + err.Error()
}

// probe connects to addr, or GETs rawURL for a 2xx or 3xx status, not with net/http, whose
// start-up cost would land on every command. It reads the status line only.
func probe(rawURL, addr string, timeout time.Duration) string {
	deadline := time.Now().Add(timeout)
	u, _ := url.Parse(rawURL) // checkStartable checked it before the monitor started
	if rawURL != "" {
		addr = net.JoinHostPort(u.Hostname(), orDefault(u.Port(), "80"))
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

// logWatch is --health-log: healthy once a line of this run's output has matched.
type logWatch struct {
	pattern *regexp.Regexp
	name    string         // whose monitor's lines in the monitor log are not the process's
	paths   []string       // the process's stdout and stderr, or the one file of both
	runs    chan *childRun // each new run, to follow its output as it is written
	mu      sync.Mutex     // held by a check or a poll, never by the monitor's loop
	run     *childRun
	offsets []int64  // how far each file has been read, to the end of a line
	carry   [][]byte // the start of a line that a monitor's line cut in two
	matched bool
}

// serve follows the output of the latest run between the checks, polling it from every 2 ms,
// slower as the run ages, so that a matching line makes it ready at once. A poll matches for
// at most 3% of its interval: a costly pattern over much output must not make the monitor busy.
func (w *logWatch) serve(ready func(*childRun)) {
	var run *childRun
	var poll <-chan time.Time
	for {
		select {
		case run = <-w.runs:
		case <-poll:
		}
		interval := min(max(time.Since(run.started)/100, 2*time.Millisecond), time.Second)
		poll = time.After(interval)
		if w.matches(run, time.Now().Add(interval*3/100)) {
			poll = nil // till the next run
			go ready(run)
		}
	}
}

// matches reads r's output on until deadline, and says whether a line of it has matched. A line
// not ended yet is left for the next read, unless it fills the buffer: it is matched in pieces.
func (w *logWatch) matches(r *childRun, deadline time.Time) bool {
	for !w.mu.TryLock() { // not past deadline, while another check matches a costly pattern
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	defer w.mu.Unlock()
	if r != w.run {
		w.run, w.matched = r, false
		w.offsets, w.carry = slices.Clone(r.logStart), make([][]byte, len(w.paths))
	}
	for i := 0; i < len(w.paths) && !w.matched; i++ {
		f, err := os.OpenFile(w.paths[i], os.O_RDONLY|syscall.O_NONBLOCK, 0)
		if err != nil {
			continue
		}
		if fi, err := f.Stat(); err == nil && fi.Size() < w.offsets[i] {
			w.offsets[i], w.carry[i] = 0, nil // truncated: read from the start
		}
		lines := bufio.NewReaderSize(io.NewSectionReader(f, w.offsets[i], 1<<62), 64<<10)
		for !w.matched && time.Now().Before(deadline) {
			line, err := lines.ReadSlice('\n')
			if err != nil && err != bufio.ErrBufferFull {
				break
			}
			w.offsets[i] += int64(len(line))
			line = bytes.TrimSuffix(line, []byte("\n"))
			if j := monitorLineAt(line, w.name); j >= 0 {
				w.carry[i] = append(w.carry[i], line[:j]...) // the process's line goes on after it
			} else {
				w.matched, w.carry[i] = w.pattern.Match(append(w.carry[i], line...)), nil
			}
		}
		f.Close()
	}
	return w.matched
}

// The package's regular expressions are compiled when first needed, not by every command.
var monitorTag = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`procdog\[[0-9]+\] `)
})

// monitorLineAt is where a line that logf wrote for name's monitor begins in line, or -1.
func monitorLineAt(line []byte, name string) int {
	for _, m := range monitorTag().FindAllIndex(line, -1) {
		at := m[0] - 1 - len(logTime)
		if at >= 0 && line[m[0]-1] == ' ' && bytes.HasPrefix(line[m[1]:], []byte(name+": ")) {
			return at
		}
	}
	return -1
}

// signalGroup sends sig to process group pgid, and SIGCONT for a stopped one.
func signalGroup(pgid int, sig syscall.Signal) {
	syscall.Kill(-pgid, sig)
	syscall.Kill(-pgid, syscall.SIGCONT)
}

// awaitGroupEnd polls, for the group's members need not be the caller's children; groupLives,
// which reads all of /proc, every tenth time.
func awaitGroupEnd(pgid int, deadline time.Time) bool {
	for n := 1; time.Now().Before(deadline); n++ {
		if syscall.Kill(-pgid, 0) != nil || n%10 == 0 && !groupLives(pgid) {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return !groupLives(pgid)
}

// groupLives tells whether a process of group pgid lives. A zombie does not: a parent that
// never reaps it (a subreaper, or a container's init, that does not wait) keeps kill(2) from
// telling, but on Linux /proc tells.
func groupLives(pgid int) bool {
	procs, err := os.ReadDir("/proc")
	if syscall.Kill(-pgid, 0) != nil || runtime.GOOS != "linux" || err != nil {
		return syscall.Kill(-pgid, 0) == nil
	}
	for _, p := range procs {
		// Fields from the state on, after the command's name, which may hold ") ".
		stat, _ := os.ReadFile("/proc/" + p.Name() + "/stat")
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(f) > 17 && f[2] == strconv.Itoa(pgid) && (f[0] != "Z" || f[17] != "1") {
			return true // a zombie leader with threads left still runs
		}
	}
	return false
}

// ---------------------------------------------------------------------------
// Export: a systemd unit or a launchd plist that runs NAME as start would,
// for a process that moves from a development machine to a server.

var exportFormats = []string{"systemd", "launchd"}

// exportJob is NAME as start would run it. Its executables are found on
// PATH now, because a service manager runs its services with its own PATH.
type exportJob struct {
	options
	name              string
	argv, health, env []string // argv[0] and health[0] absolute; env as NAME=value
	notes             []string // what the format cannot say, for one warning line
	b                 strings.Builder
	err               error // the first value that the format cannot hold
	restarts          bool  // whether procdog restarts the process at all
}

// runExport refuses what start would refuse.
func runExport(cl commandLine, words []string, stdout, stderr io.Writer) error {
	format, name := words[0], words[1]
	if !slices.Contains(exportFormats, format) {
		return usageErrorf("argument format: invalid choice: '%s' (choose from '%s')",
			format, strings.Join(exportFormats, "', '"))
	} else if !validName(name) {
		return usageErrorf("Invalid process name '%s'; must be alphanumeric, "+
			"with only underscores or dashes", name)
	}
	o, err := resolveOptions(cl, name)
	if err != nil {
		return err
	} else if err = (client{name: name, command: "export"}).checkStartable(&o); err != nil {
		return err
	}
	j := &exportJob{options: o, name: name, restarts: o.Restart != "no" && o.MaxRestarts > 0}
	j.argv, _ = o.commandArgs() // checkStartable has checked these three
	j.health, _ = o.healthArgs()
	j.env, _ = o.Env.vars()
	if j.argv[0], err = findExecutable(j.argv[0], o.Dir); err != nil {
		return failf(exitError, "Failed to start: %s", describeExecError(err))
	}
	if len(j.health) > 0 {
		if j.health[0], err = findExecutable(j.health[0], o.Dir); err != nil {
			return failf(exitError, "Failed to run health command: %s", describeExecError(err))
		}
	}
	for _, s := range slices.Concat([]string{o.Stdin, o.Stdout, o.Stderr}, j.argv, j.health, j.env) {
		if strings.ContainsRune(s, 0) {
			return failf(exitUnknown, "cannot export '%s': %q holds a NUL byte, "+
				"which no process can be given", name, s)
		}
	}
	map[string]func(){"systemd": j.systemd, "launchd": j.launchd}[format]()
	if j.err != nil {
		return j.err
	} else if len(j.notes) > 0 {
		fmt.Fprintf(stderr, "procdog: warning: the %s output does not express: %s "+
			"(see its comments)\n", format, strings.Join(j.notes, "; "))
	}
	if j.Output == "" {
		_, err = io.WriteString(stdout, j.b.String())
		return err
	}
	// Refused as a state file would be, opened as one is: so it is written over only once checked.
	f, err := openChecked(j.Output, os.O_WRONLY|os.O_CREATE|syscall.O_NOFOLLOW, 0o644, "write",
		"cannot write "+j.Output, stateFileProblem)
	if err != nil {
		return err
	}
	_, err = f.WriteString(j.b.String())
	if err = cmp.Or(err, f.Truncate(int64(j.b.Len())), f.Close()); err != nil {
		return failf(exitUnknown, "cannot write %s: %v", j.Output, err)
	}
	return nil
}

func (j *exportJob) line(format string, args ...any) { fmt.Fprintf(&j.b, format+"\n", args...) }

// lineIf is line for lines of the output that depend on an option.
func (j *exportJob) lineIf(when bool, format string, args ...any) {
	if when {
		j.line(format, args...)
	}
}

// note is lineIf for lines on what the output does not express, which the warning names too.
func (j *exportJob) note(when bool, what, format string, args ...any) {
	if when {
		j.notes = append(j.notes, what)
		j.line(format, args...)
	}
}

// refuse keeps the first value the format cannot hold: writers need not check each line.
func (j *exportJob) refuse(bad bool, format string, args ...any) {
	if bad && j.err == nil {
		j.err = failf(exitUnknown, format, args...)
	}
}

func exportSeconds(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// exportRestartWindow is the time procdog's doubling delays take, plus systemd's 10 s.
func exportRestartWindow(o options) int {
	limit := maxRestartDelay.Seconds()
	window, d, starts := 10.0, min(o.RestartDelay, limit), o.MaxRestarts+1
	for ; starts > 0 && d > 0 && d < limit; starts-- {
		window, d = window+d, min(2*d, limit)
	}
	return int(math.Ceil(window + float64(starts)*d)) // the starts left wait the longest delay
}

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
		case w[i] < 0x20 || w[i] == 0x7f || w[i] >= 0x80 && !valid:
			fmt.Fprintf(&b, `\x%02x`, w[i])
		default:
			b.WriteByte(w[i])
		}
	}
	if w != "" && strings.Trim(w, nameChars+"./:,+=@%$") == "" {
		return b.String()
	}
	return `"` + b.String() + `"`
}

var systemdEscapes = map[byte]string{
	'%': "%%", '$': "$$", '"': `\"`, '\\': `\\`, '\n': `\n`, '\t': `\t`,
}

func quoteWords(argv []string, quote func(string) string) string {
	words := make([]string, len(argv))
	for i, w := range argv {
		words[i] = quote(w)
	}
	return strings.Join(words, " ")
}

// systemdText is one line, no specifiers, no backslash at its end (which joins the next).
func systemdText(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	return strings.ReplaceAll(strings.TrimRight(s, `\ `), "%", "%%")
}

// systemdPath refuses a path that a unit file would read as another one: one that systemdText
// changes (control characters, invalid UTF-8, a trailing \ or space) or with a leading space.
func (j *exportJob) systemdPath(path string) string {
	text := systemdText(path)
	j.refuse(text != strings.ReplaceAll(path, "%", "%%") || strings.TrimSpace(path) != path,
		"cannot export the path %q: a unit file cannot hold it", path)
	return text
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
	j.line("# procdog export systemd %[1]s: runs %[1]s as `procdog start %[1]s` would.\n"+
		"# A user unit, for procdog needs no root. To install it:\n"+
		"#   cp THIS ~/.config/systemd/user/procdog-%[1]s.service\n"+
		"#   systemctl --user daemon-reload && "+
		"systemctl --user enable --now procdog-%[1]s.service\n"+
		"\n[Unit]\nDescription=%[2]s", j.name, systemdText("procdog "+j.name+": "+j.Command))
	j.refuse(j.restarts && int64(j.MaxRestarts) >= math.MaxUint32, // StartLimitBurst's limit
		"cannot export max_restarts=%d: a systemd unit holds at most 4294967294", j.MaxRestarts)
	j.lineIf(j.restarts, "# procdog restarts at most max_restarts=%d times; "+
		"systemd counts starts in a window:\n"+
		"# these %d, in the time procdog's doubling delays take, plus 10 s. A process\n"+
		"# that fails more slowly than that is restarted again.\n"+
		"StartLimitIntervalSec=%d\nStartLimitBurst=%[2]d",
		j.MaxRestarts, j.MaxRestarts+1, exportRestartWindow(j.options))
	j.lineIf(j.HealthNotify, "\n[Service]\n# The process is started once it sends READY=1, as "+
		"for procdog's\n# --health-notify; any process of the service may send it.\n"+
		"Type=notify\nNotifyAccess=all")
	j.lineIf(!j.HealthNotify, "\n[Service]\n"+
		"# exec: the start fails if the command cannot be run, as procdog's does.\nType=exec")
	j.line("ExecStart=%s\nWorkingDirectory=%s\n"+
		"# procdog passes on the environment of the shell that starts it; a service gets\n"+
		"# the service manager's. Add Environment= lines for what the process needs.",
		quoteWords(j.argv, systemdQuote), j.systemdPath(j.Dir))
	for _, kv := range j.env {
		// Environment= expands specifiers (%) but not variables ($).
		j.line("Environment=%s", strings.ReplaceAll(systemdQuote(kv), "$$", "$"))
	}
	j.lineIf(j.Stdin != os.DevNull, "StandardInput=file:%s", j.systemdPath(j.Stdin))
	j.lineIf(j.Stdout == "" || j.Stderr == "", "# Output that procdog writes to its monitor log "+
		"goes to the journal:\n#   journalctl --user -u procdog-%s", j.name)
	mode := map[bool]string{true: "append:", false: "truncate:"}[j.Append]
	for _, f := range [][2]string{{"Output", j.Stdout}, {"Error", j.Stderr}} {
		j.lineIf(f[1] == "", "Standard%s=journal", f[0])
		j.lineIf(f[1] != "", "Standard%s=%s%s", f[0], mode, j.systemdPath(f[1]))
	}
	// TimeoutStopSec=0 would mean no timeout at all, where procdog kills at once.
	j.line("# Stop: the stop signal to every process the service started, then SIGKILL\n"+
		"# after the stop timeout, as procdog does to the process group.\n"+
		"KillMode=control-group\nKillSignal=%s\nTimeoutStopSec=%s",
		systemdSignal(j.StopSignal), exportSeconds(max(j.StopTimeout, 0.001)))
	j.lineIf(!j.restarts, "Restart=no")
	j.lineIf(j.restarts, "Restart=%s\nRestartSec=%s", j.Restart,
		exportSeconds(min(j.RestartDelay, maxRestartDelay.Seconds())))
	// Any signal is a failure to procdog; SIGHUP, SIGINT, SIGTERM, SIGPIPE a clean exit to systemd.
	j.lineIf(j.restarts && j.Restart == "on-failure", "# procdog counts death by any signal as "+
		"a failure.\nRestartForceExitStatus=SIGHUP SIGINT SIGTERM SIGPIPE")
	j.lineIf(j.restarts, "# procdog doubles the delay after each restart, up to 30 s; systemd 254 "+
		"and\n# later can too:\n#RestartSteps=%d\n#RestartMaxDelaySec=30", j.MaxRestarts)
	j.systemdHealth()
	j.line("\n[Install]\nWantedBy=default.target")
}

// systemdHealth is the health check: an ExecStartPost= loop of tries, each under timeout(1).
func (j *exportJob) systemdHealth() {
	argv, why := j.health, "--health-log is no command a unit can run"
	switch {
	case j.healthKinds() == 0 || j.HealthNotify:
		return
	case j.HealthURL != "":
		// 2xx and 3xx pass, as for procdog: -f fails on 4xx and 5xx and no
		// redirect is followed; -g keeps [] and {} literal; no proxy.
		why = "no curl on PATH to run it"
		if curl, err := findExecutable("curl", j.Dir); err == nil {
			argv = []string{curl, "-fsS", "-g", "--noproxy", "*", "-o", os.DevNull, j.HealthURL}
		}
	case j.HealthTCP != "":
		host, port, _ := net.SplitHostPort(j.HealthTCP)
		n, _ := strconv.Atoi(port)
		why = "no bash on PATH to run it"
		if bash, err := findExecutable("bash", j.Dir); err == nil {
			dev := shellQuote(fmt.Sprintf("/dev/tcp/%s/%d", host, n))
			argv = []string{bash, "-c", "exec 3<>" + dev}
		}
	}
	if argv == nil {
		j.note(true, "the health check ("+why+")", "# The health check is left out: %s.", why)
		return
	}
	if timeout, err := findExecutable("timeout", j.Dir); err == nil {
		argv = append([]string{timeout, "-s", "KILL", exportSeconds(j.HealthTimeout)}, argv...)
	} else {
		j.notes = append(j.notes, "health_timeout (no timeout command on PATH)")
	}
	tries, prefix := max(j.HealthCount, 1), map[bool]string{false: "#"}[j.EnsureHealthy]
	j.lineIf(j.EnsureHealthy, "# The health check, as --ensure-healthy: the unit fails to start "+
		"and its\n# process is stopped unless a try passes within health_count=%d tries.", tries)
	j.note(!j.EnsureHealthy, "the health check, which only procdog status reports (commented out)",
		"# procdog only reports the health check, in status; a unit has nowhere to.\n"+
			"# Uncomment to make the start fail unless healthy, as --ensure-healthy does.")
	// The start may take every try, each to its timeout, and the delays.
	wait := math.Ceil(float64(tries)*(j.HealthTimeout+j.HealthDelay)) + 10
	j.refuse(wait*1e6 >= math.MaxUint64, "cannot export health_count=%d: a systemd unit "+
		"cannot wait %s seconds for the health check", tries, exportSeconds(wait))
	loop := fmt.Sprintf("n=0; until %s; do n=$((n+1)); if [ $n -ge %d ]; then exit 1; fi; "+
		"sleep %s; done", quoteWords(argv, shellQuote), tries, exportSeconds(j.HealthDelay))
	j.line("%[1]sExecStartPost=/bin/sh -c %[2]s\n%[1]sTimeoutStartSec=%[3]s", prefix,
		systemdQuote(loop), exportSeconds(wait))
}

// plistString refuses what XML cannot hold even escaped (most control characters,
// invalid UTF-8), and escapes \r, which a parser would turn into a newline.
func (j *exportJob) plistString(s string) string {
	control := func(r rune) bool { return r < 0x20 && !strings.ContainsRune("\t\n\r", r) }
	j.refuse(!utf8.ValidString(s) || strings.ContainsAny(s, "\uFFFE\uFFFF") ||
		strings.ContainsFunc(s, control), "cannot export %q: a plist cannot hold it", s)
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "\r", "&#13;").Replace(s)
}

// launchd writes a plist. An XML comment may not hold "--", which a name may: where a comment
// names the process, a space parts each two dashes (in two passes, as one leaves "- --" of "---").
func (j *exportJob) launchd() {
	commented := strings.ReplaceAll(strings.ReplaceAll(j.name, "--", "- -"), "--", "- -")
	j.line(`<?xml version="1.0" encoding="UTF-8"?>`+"\n"+
		`<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" `+
		`"http://www.apple.com/DTDs/PropertyList-1.0.dtd">`+"\n<plist version=\"1.0\">\n<dict>\n"+
		"\t<!-- procdog export launchd %[1]s: runs %[1]s as `procdog start %[1]s` would. -->\n"+
		"\t<!-- To install it: cp THIS ~/Library/LaunchAgents/procdog.%[1]s.plist -->\n"+
		"\t<!--   launchctl bootstrap gui/$UID ~/Library/LaunchAgents/procdog.%[1]s.plist -->\n"+
		"\t<key>Label</key>\n\t<string>procdog.%[2]s</string>\n"+
		"\t<key>ProgramArguments</key>\n\t<array>", commented, j.name)
	for _, a := range j.argv {
		j.line("\t\t<string>%s</string>", j.plistString(a))
	}
	j.line("\t</array>\n\t<key>WorkingDirectory</key>\n\t<string>%s</string>\n"+
		"\t<!-- procdog passes on the environment of the shell that starts it; launchd -->\n"+
		"\t<!-- gives an agent its own. Add EnvironmentVariables for what the process needs. -->",
		j.plistString(j.Dir))
	j.lineIf(len(j.env) > 0, "\t<key>EnvironmentVariables</key>\n\t<dict>")
	for _, kv := range j.env {
		k, v, _ := strings.Cut(kv, "=") // k is a name: nothing to escape
		j.line("\t\t<key>%s</key>\n\t\t<string>%s</string>", k, j.plistString(v))
	}
	j.lineIf(len(j.env) > 0, "\t</dict>")
	j.line("\t<key>RunAtLoad</key>\n\t<true/>")
	j.lineIf(j.Stdin != os.DevNull, "\t<key>StandardInPath</key>\n\t<string>%s</string>",
		j.plistString(j.Stdin))
	j.lineIf(j.Stdout == "" || j.Stderr == "", "\t<!-- Output that procdog writes to its "+
		"monitor log has no path: launchd drops it. -->")
	j.note((j.Stdout != "" || j.Stderr != "") && !j.Append, "truncating the output files "+
		"(launchd appends)", "\t<!-- launchd appends to these files; "+
		"procdog truncates them without append=true. -->")
	j.lineIf(j.Stdout != "", "\t<key>StandardOutPath</key>\n\t<string>%s</string>",
		j.plistString(j.Stdout))
	j.lineIf(j.Stderr != "", "\t<key>StandardErrorPath</key>\n\t<string>%s</string>",
		j.plistString(j.Stderr))
	// launchd has no stop signal but SIGTERM, no restart limit and no doubling delay.
	j.line("\t<!-- Stop: SIGTERM, then SIGKILL after ExitTimeOut seconds; launchd also " +
		"kills -->\n\t<!-- the job's process group when the job ends, as procdog does. -->")
	sig := systemdSignal(j.StopSignal)
	j.note(sig != "SIGTERM", "stop_signal="+string(j.StopSignal),
		"\t<!-- procdog's stop signal, %s, is not SIGTERM: launchd cannot send it. -->", sig)
	j.line("\t<key>ExitTimeOut</key>\n\t<integer>%d</integer>",
		max(int(math.Ceil(j.StopTimeout)), 1))
	j.lineIf(j.restarts && j.Restart == "always", "\t<key>KeepAlive</key>\n\t<true/>")
	j.lineIf(j.restarts && j.Restart != "always", "\t<!-- Restarted unless it exits with "+
		"status 0. -->\n\t<key>KeepAlive</key>\n\t<dict><key>SuccessfulExit</key><false/></dict>")
	j.note(j.restarts, fmt.Sprintf("max_restarts=%d", j.MaxRestarts), "\t<!-- procdog restarts "+
		"at most max_restarts=%d times, after a delay that doubles -->\n"+
		"\t<!-- up to 30 s; launchd restarts for ever, at most once per ThrottleInterval. -->\n"+
		"\t<key>ThrottleInterval</key>\n\t<integer>%d</integer>", j.MaxRestarts,
		int(math.Ceil(min(j.RestartDelay, maxRestartDelay.Seconds()))))
	j.note(j.healthKinds() > 0, "the health check",
		"\t<!-- launchd has no health check: the one procdog runs is left out. -->")
	j.line("</dict>\n</plist>")
}

// ---------------------------------------------------------------------------
// The protocol: responses, their JSON, and the exit codes.

// response is one line of the protocol: a code, then key=value pairs sorted by key
// ("running, health=0, pid=12"), or "error: MESSAGE". The other fields are the client's.
type response struct {
	code, msg, healthError string // healthError: why the last check failed, for JSON and wait
	notifyStatus           string // the process's STATUS=, for JSON alone
	checks                 int    // how many checks found it unhealthy, for the client's message
	values                 map[string]int
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

// withDetails ends a request for an answer with what its line has no room for: after a tab,
// why the check failed, the process's notify STATUS= (each Go-quoted, as the options answer is)
// and how many checks a wait ran. They come with the answer, not from a request of their own,
// for another client's check could change them in between. Without it, the answer is the line.
const withDetails = " +"

func (r response) detailed() string {
	return fmt.Sprintf("%s\t%q %q %d", r, r.healthError, r.notifyStatus, r.checks)
}

// parseResponse reads an answer, with its details if any; what it does not understand is
// codeInvalid. Quoting escapes a tab, so the last one starts the details.
func parseResponse(answer string) response {
	var r response
	line := strings.TrimRight(answer, "\r\n")
	if i := strings.LastIndexByte(line, '\t'); i >= 0 {
		n, _ := fmt.Sscanf(line[i+1:], "%q %q %d", &r.healthError, &r.notifyStatus, &r.checks)
		if n == 3 {
			line = line[:i]
		}
	}
	if msg, ok := strings.CutPrefix(line, "error: "); ok {
		r.code, r.msg = codeError, msg
		return r
	}
	fields := strings.Split(line, ", ")
	r.code, r.values = fields[0], map[string]int{}
	codes := []string{codeRunning, codeExited, codeKilled, codeStopped, codeInvalid, codeBusy}
	valid := slices.Contains(codes, r.code)
	for _, f := range fields[1:] {
		k, v, _ := strings.Cut(f, "=") // with no "=", v is "" and no number
		n, err := strconv.Atoi(v)
		valid = valid && err == nil && k != "" && !strings.ContainsAny(k, " ,")
		r.values[k] = n
	}
	if !valid {
		r.code, r.values = codeInvalid, nil
	}
	return r
}

// healthy: running, and healthy if checked (a health of 0, as one that is missing reads).
func (r response) healthy() bool { return r.code == codeRunning && r.values["health"] == 0 }

// exitCodeFor is the table of exit codes: that of a command that printed r.
func exitCodeFor(command string, r response, o options) int {
	stop := command == "stop"
	switch {
	case r.code == codeError:
		return exitError
	case r.code == codeInvalid || r.code == codeBusy || stop && r.code == codeRunning:
		return exitUnknown
	case !stop && (o.EnsureHealthy || command == "wait") && !r.healthy():
		return exitUnhealthy
	case stop && o.Strict && r.code != codeKilled, !stop && r.code != codeRunning:
		return exitNotRunning
	}
	return exitOK
}

func (r response) json(name string) string {
	fields := map[string]any{"name": name, "state": r.code}
	for k, v := range r.values {
		fields[k] = v
	}
	if r.values["orphaned"] == 1 {
		fields["orphaned"] = true
	}
	for k, v := range map[string]string{"error": r.msg, "notify_status": r.notifyStatus,
		"health_error": r.healthError} {
		if v != "" || k == "error" && r.code == codeError {
			fields[k] = v
		}
	}
	return jsonText(fields)
}

// jsonText is v as JSON on one line, with <, > and & as they are: for a terminal, not a web page.
func jsonText(v any) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
	return strings.TrimSuffix(b.String(), "\n")
}

func printResponse(w io.Writer, name string, r response, asJSON bool) {
	line := r.String()
	if asJSON {
		line = r.json(name)
	}
	fmt.Fprintln(w, line)
}

// ---------------------------------------------------------------------------
// Options.

// options: the defaults, under the config file, under the command line.
type options struct {
	Command, HealthCommand, HealthURL, HealthTCP, HealthLog                      string
	Dir, Stdin, Stdout, Stderr, Restart, Config, Output                          string
	HealthCount, MaxRestarts, Lines                                              int
	HealthDelay, HealthTimeout, Linger, Settle, StopTimeout, RestartDelay        float64
	EnsureHealthy, HealthNotify, Append, Strict, Shell, Debug, JSON, Follow, All bool
	StopSignal                                                                   signalName
	Env                                                                          envList
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
	{"health-count", "", true, "how many health checks wait tries, at least"},
	{"health-delay", "", true, "seconds between those tries, at most; (count-1) x delay in all"},
	{"health-timeout", "", true, "seconds before a health check is killed and counts as unhealthy"},
	{"ensure-healthy", "", true,
		"start waits for health, and stops the process if it never gets healthy"},
	{"dir", "", true, "where the process runs (default: here; the config file's for its command)"},
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
	{"health-notify", "", true,
		"healthy once the process sends READY=1 to $NOTIFY_SOCKET, as systemd's notify protocol"},
	{"health-log", "", true,
		"healthy once the process has printed a line matching this regular expression"},
	{"restart", "", true, "restart the process when it exits: no, on-failure or always"},
	{"max-restarts", "", true, "restart at most this many times"},
	{"restart-delay", "", true, "seconds before the first restart, doubling up to 30 s"},
	{"env", "", true, "KEY=VALUE to add to the process's environment; may be repeated"},
	{"config", "", false, "config file to read"},
	{"json", "", false, "print JSON instead of the response line"},
	{"lines", "n", false, "logs: how many lines of each file to print"},
	{"follow", "f", false, "logs: go on printing what is added, until interrupted"},
	{"all", "", false, "list: also the names whose monitor has ended, as stopped"},
	{"debug", "", false, "print what the client does to stderr"},
	{"output", "", false, "export: write the unit or plist to this file instead of stdout"},
}

var expandedKeys = map[string]bool{"command": true, "health_command": true, "health_url": true,
	"health_tcp": true, "dir": true, "stdin": true, "stdout": true, "stderr": true, "env": true}

var healthKeys = strings.Fields("health-command health-url health-tcp health-log health-notify")

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
		if v = n; nerr != nil || n < 0 {
			err = fmt.Errorf("invalid int value: '%s' (a whole number, 0 or more)", text)
		}
	case reflect.Float64:
		// 1e9 s fits a time.Duration, and NaN fails the check; Python's float() refused hex floats.
		x, xerr := strconv.ParseFloat(strings.TrimSpace(text), 64)
		if v = x; xerr != nil || !(x >= 0 && x <= 1e9) || strings.ContainsAny(text, "xXpP_") {
			err = fmt.Errorf("invalid float value: '%s' (a number of seconds, 0 or more)", text)
		}
	}
	switch {
	case err != nil:
	case s.long == "linger" && v.(float64) > maxLinger:
		err = fmt.Errorf("invalid float value: '%s' (at most %d seconds, one day)", text, maxLinger)
	case s.long == "health-timeout" && v.(float64) == 0: // a check must have some time
		err = fmt.Errorf("invalid float value: '%s' (a number of seconds, more than 0)", text)
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
	given := []bool{o.HealthCommand != "", o.HealthURL != "", o.HealthTCP != "",
		o.HealthLog != "", o.HealthNotify}
	return len(slices.DeleteFunc(given, func(g bool) bool { return !g }))
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
	for _, f := range flags {
		rest, isFlag := strings.CutPrefix(f, "--")
		long, value, hasValue := strings.Cut(rest, "=")
		if spec, ok := findOption(long); !ok || !isFlag || !hasValue {
			return o, fmt.Errorf("not an option: %q", f)
		} else if err := spec.set(&o, value); err != nil {
			return o, fmt.Errorf("invalid value %q for flag -%s: %v", value, long, err)
		}
	}
	return o, nil
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
				i, value = i+1, args[i+1]
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
	var matches, longs []string
	for _, s := range optionSpecs {
		if s.long == name { // --restart, though --restart-delay starts with it too
			return s, value, hasValue, nil
		} else if longs = append(longs, s.long); strings.HasPrefix(s.long, name) {
			spec, matches = s, append(matches, "--"+s.long)
		}
	}
	if len(matches) == 0 {
		err = &codedError{code: exitError, usage: true, msg: "unrecognized arguments: --" + name,
			hint: didYouMean("--", name, longs)}
	} else if len(matches) > 1 {
		err = usageErrorf("ambiguous option: --%s could match %s", name,
			strings.Join(matches, ", "))
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
		if _, given := cl.set[spec.long]; given && spec.long != "env" || cl.skips(spec) ||
			cl.givesHealthCheck() && slices.Contains(healthKeys, spec.long) {
			continue
		}
		if v, err := spec.expand(values[k]); err != nil {
			return o, err
		} else if err := spec.set(&o, v); err != nil && spec.isBool() {
			return o, failf(exitUnknown, "%v", err) // as ConfigParser.getboolean says it
		} else if err != nil {
			return o, failf(exitUnknown, "%v for config key '%s' in '%s'", err, k, path)
		}
	}
	// A section means the same wherever procdog runs: its command runs in the file's directory,
	// and a relative dir is relative to it. A command given on the command line runs here.
	_, hasDir := values["dir"]
	_, ownCommand := cl.set["command"]
	fromFile := o.Dir != "" || !hasDir && !ownCommand && values["command"] != ""
	if abs, err := filepath.Abs(path); err == nil && fromFile && !filepath.IsAbs(o.Dir) {
		o.Dir = filepath.Join(filepath.Dir(abs), o.Dir)
	}
	if o.healthKinds() > 1 {
		return o, failf(exitUnknown, "more than one kind of health check in '%s': "+
			"use one of health_command, health_url, health_tcp, health_log, health_notify", path)
	}
	return o, o.applyCommandLine(cl)
}

// applyCommandLine: the command line's health check replaces o's; its env adds to o's.
func (o *options) applyCommandLine(cl commandLine) error {
	for _, spec := range optionSpecs {
		if cl.givesHealthCheck() && slices.Contains(healthKeys, spec.long) {
			spec.field(o).SetZero()
		}
		v, ok := cl.set[spec.long]
		if !ok || cl.skips(spec) {
			continue
		}
		before := o.Env
		if v, err := spec.expand(v); err != nil {
			return err
		} else if err := spec.set(o, v); err != nil {
			return usageErrorf("argument --%s: %v", spec.long, err)
		} else if spec.long == "env" {
			o.Env = before.with(o.Env)
		}
	}
	if o.healthKinds() > 1 {
		return usageErrorf("use only one of --%s", strings.Join(healthKeys, ", --"))
	}
	return nil
}

// expand's error is the whole message; a value the option refuses is left to set.
func (s optionSpec) expand(value string) (string, error) {
	// env word by word, so that a value with a space or a quote stays one KEY=VALUE.
	words, err := splitWords(value)
	if !expandedKeys[s.key()] || s.long == "env" && err != nil {
		return value, nil
	} else if s.long != "env" {
		words = []string{value}
	}
	for i, w := range words {
		v, err := expandVars(w, os.LookupEnv)
		if err != nil {
			ce := failf(exitUnknown, "could not expand environment variable names in %s '%s': %v",
				s.key(), value, err).(*codedError)
			if strings.HasPrefix(err.Error(), "Invalid placeholder") {
				// A shell's $1 or $(cmd) must reach it as $$.
				ce.hint = "write $$ for a literal $: procdog expands $VAR and ${VAR} itself, " +
					"before any shell sees the command"
			}
			return "", ce
		}
		if words[i] = v; s.long == "env" {
			words[i] = shellQuote(v)
		}
	}
	return strings.Join(words, " "), nil
}

// ---------------------------------------------------------------------------
// The config file: INI as Python's ConfigParser reads it.

const maxConfigSize = 1 << 20

// readConfig returns name's values, over [DEFAULT]'s, and the path read, past any symbolic link.
func readConfig(explicit, name string) (map[string]string, string, error) {
	path := explicit
	if path == "" {
		path = findConfig() // not with --config: it would look in the parents for nothing
	}
	if path == "" {
		return nil, "", nil
	}
	f, path, err := openConfig(path)
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

// openConfig opens the config file at path and says where it is, past any symbolic link. As
// procdog runs its commands, it refuses a file that another user (root excepted) could have
// written, or one not regular (a FIFO would hang procdog), checked once open so none can be
// swapped in; and each link, judged with the directory it is in: whoever could make or change
// one would choose the file read, and so where its relative dir leads.
func openConfig(path string) (*os.File, string, error) {
	for i, given := 0, path; i < 40; i++ { // as many links as the kernel follows
		link, dir := "the symbolic link "+path, filepath.Dir(path)
		fi, err := os.Lstat(path)
		di, derr := os.Stat(dir)
		next, rerr := os.Readlink(path)
		if err != nil || derr != nil || rerr != nil { // not a link, or one that open refuses
			break
		} else if why := cmp.Or(othersMayWrite(fi, link),
			othersMayWrite(di, "the directory of "+link)); why != "" {
			return nil, path, failf(exitUnknown, "refusing to read config file %s: %s", given, why)
		} else if path = next; !filepath.IsAbs(next) {
			path = filepath.Join(dir, next)
		}
	}
	f, err := openChecked(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0, "read config file",
		"cannot read config file", func(fi os.FileInfo) string {
			if !fi.Mode().IsRegular() {
				return "it is not a regular file"
			}
			return othersMayWrite(fi, "it")
		})
	return f, path, err
}

// othersMayWrite says why another user (root excepted) could have written fi, or "".
func othersMayWrite(fi os.FileInfo, what string) string {
	if uid := fileOwner(fi); uid != os.Getuid() && uid != 0 {
		return fmt.Sprintf("%s belongs to another user (uid %d)", what, uid)
	} else if fi.Mode()&os.ModeSymlink == 0 && fi.Mode().Perm()&0o022 != 0 {
		return "other users may write to " + what
	}
	return ""
}

// findConfig looks here and up, else in fallbackConfigs. It stops below a directory others may
// write, such as /tmp: a file planted there would be refused, and so stop procdog for all.
func findConfig() string {
	paths := []string{"procdog.cfg"} // named as the original named it, in messages too
	wd, err := os.Getwd()
	for dir := filepath.Dir(wd); err == nil && dir != wd; wd, dir = dir, filepath.Dir(dir) {
		if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm()&0o022 != 0 {
			break
		}
		paths = append(paths, filepath.Join(dir, "procdog.cfg"))
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
		case trimmed[0] == '[' && strings.LastIndexByte(trimmed, ']') < 2:
			return nil, bad("bad section header")
		case trimmed[0] == '[':
			header := trimmed[1:strings.LastIndexByte(trimmed, ']')]
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
	placeholder = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`\$(\$|` + identifier + `|\{` + identifier + `\}|)`)
	})
	envWord = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^` + identifier + `=`) })
)

// expandVars is Python's string.Template.substitute ($VAR, ${VAR}, $$), errors included.
func expandVars(s string, lookup func(string) (string, bool)) (string, error) {
	var b strings.Builder
	end := 0
	for _, m := range placeholder().FindAllStringIndex(s, -1) {
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
	inWord, quote := false, byte(0) // quote is the open quote, or 0
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
				words, inWord = append(words, word.String()), false
				word.Reset()
			}
			continue
		default:
			word.WriteByte(c)
		}
		inWord = true
	}
	if quote != 0 {
		return nil, errors.New("No closing quotation")
	} else if inWord {
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
	option, value := "--health-tcp", o.HealthTCP
	host, port, err := net.SplitHostPort(value)
	switch {
	case o.HealthURL != "":
		option, value = "--health-url", o.HealthURL
		u, err := url.Parse(value)
		if err != nil || u.Scheme != "http" || u.Host == "" {
			return usageErrorf("argument --health-url: not an http:// URL: '%s'", value)
		}
		if host, port = u.Hostname(), u.Port(); port == "" && !strings.HasSuffix(u.Host, ":") {
			port = "80"
		}
	case value == "":
		return nil
	case err != nil:
		return usageErrorf("argument --health-tcp: not HOST:PORT: '%s'", value)
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
	timeout := max(seconds(o.HealthTimeout), time.Second) // a short one bounds checks, not lookups
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
	if n, err := strconv.Atoi(s); err == nil && n > 0 && n <= maxSignal() && s[0] != '+' {
		return syscall.Signal(n), nil
	} else if sig, ok := signalNames[strings.TrimPrefix(strings.ToUpper(s), "SIG")]; ok {
		return sig, nil
	}
	return 0, fmt.Errorf("invalid signal: '%s' (a name such as TERM, HUP or KILL, "+
		"or a number from 1 to %d)", s, maxSignal())
}

// envList is KEY=VALUE words, quoted as in a command, for the process and health command.
type envList string

// with adds more, a later value replacing the earlier in place, so restarts do not grow it.
func (l envList) with(more envList) envList {
	vars, _ := (l + " " + more).vars()
	var keys, words []string
	for _, kv := range vars {
		key, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(keys, key) {
			keys, words = append(keys, key), append(words, "")
		}
		words[slices.Index(keys, key)] = shellQuote(kv)
	}
	return envList(strings.Join(words, " "))
}

func (l envList) vars() ([]string, error) {
	words, err := splitWords(string(l))
	if err != nil {
		return nil, fmt.Errorf("invalid env '%s': %v", l, err)
	}
	for _, w := range words {
		if !envWord().MatchString(w) {
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
// State files, sockets and processes.

// checkStateDir refuses a directory where another user could remove or rename our files: one
// that is not ours, unless root's and sticky (as /var/tmp is). A missing one is made owner-only.
func checkStateDir(dir string) error {
	fi, err := os.Stat(dir)
	why := ""
	switch sticky := err == nil && fi.Mode()&os.ModeSticky != 0; {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return failf(exitUnknown, "cannot use the state directory %s: %v", dir, err)
	case fileOwner(fi) != os.Getuid() && fileOwner(fi) != 0:
		why = fmt.Sprintf("it belongs to another user (uid %d)", fileOwner(fi))
	case fileOwner(fi) != os.Getuid() && !sticky:
		why = "it belongs to root and is not sticky (as /var/tmp is)"
	case fi.Mode().Perm()&0o022 != 0 && !sticky:
		why = "other users may write to it, and it is not sticky (as /var/tmp is)"
	default:
		return nil
	}
	return failf(exitUnknown, "refusing to use the state directory %s: %s", dir, why)
}

func statePath(dir, name, kind string) string {
	return filepath.Join(dir, "procdog."+name+"."+kind)
}

// newSocketSuffix names the socket a monitor binds before it renames it into place.
const newSocketSuffix = ".new"

// stateFileProblem says why fi cannot be a state file: on a shared machine, a link or another
// user's file could lead to somebody else's.
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

func fileOwner(fi os.FileInfo) int { return int(fi.Sys().(*syscall.Stat_t).Uid) }

func openStateFile(path string, mode int) (*os.File, error) {
	return openChecked(path, mode|syscall.O_NOFOLLOW, 0o600, "use", "cannot open "+path,
		stateFileProblem)
}

// openChecked opens a file where others can write, then checks the file opened, not the path,
// which could be swapped meanwhile. Errors read "refusing to VERB PATH: WHY" or "CANNOT: ERR".
func openChecked(path string, flag int, perm os.FileMode, verb, cannot string,
	check func(os.FileInfo) string) (*os.File, error) {
	f, fi, err := openNoWait(path, flag, perm)
	why := ""
	switch {
	case errors.Is(err, syscall.ELOOP): // from O_NOFOLLOW
		why = "it is a symbolic link"
	case errors.Is(err, syscall.ENXIO): // a FIFO opened for writing, with no reader
		why = "it is not a regular file"
	case err != nil:
		return nil, failf(exitUnknown, "%s: %v", cannot, err)
	default:
		if why = check(fi); why == "" {
			return f, nil
		}
		f.Close()
	}
	return nil, failf(exitUnknown, "refusing to %s %s: %s", verb, path, why)
}

// openNoWait opens path, left blocking, without waiting on a FIFO (a planted one would hang us).
func openNoWait(path string, flag int, perm os.FileMode) (*os.File, os.FileInfo, error) {
	f, err := os.OpenFile(path, flag|syscall.O_NONBLOCK, perm)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if nerr := syscall.SetNonblock(int(f.Fd()), false); err == nil && nerr != nil {
		err = fmt.Errorf("%s: %v", path, nerr)
	}
	if err != nil {
		f.Close()
	}
	return f, fi, err
}

// stillAt tells whether path is still the file fi; inode numbers are reused, mtimes rarely.
func stillAt(path string, fi os.FileInfo) bool {
	pi, err := os.Lstat(path)
	return err == nil && os.SameFile(fi, pi) && pi.ModTime().Equal(fi.ModTime())
}

var errLockBusy = errors.New("lock is held")

// acquireLock takes the flock on path, which the kernel drops when its holder dies.
func acquireLock(path string) (*os.File, error) {
	for i := 0; i < 100; i++ {
		f, err := openStateFile(path, os.O_RDWR|os.O_CREATE)
		if err != nil {
			return nil, err
		}
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		// A lock on a file that its holder removed meanwhile guards nothing.
		if fi, serr := f.Stat(); err == nil && serr == nil && stillAt(path, fi) {
			return f, nil
		}
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, errLockBusy
		} else if err != nil {
			return nil, fmt.Errorf("cannot lock %s: %v", path, err)
		}
	}
	return nil, fmt.Errorf("cannot lock %s: it keeps changing", path)
}

// releaseLock removes the lock file, if still ours, before unlocking it, or another could
// lock it just before it goes.
func releaseLock(f *os.File) {
	if fi, err := f.Stat(); err == nil && stillAt(f.Name(), fi) {
		os.Remove(f.Name())
	}
	f.Close()
}

// lockHeld says whether a monitor holds the lock; one holding just its shared lock answers
// busy, and the start loop tries again.
func lockHeld(path string) bool {
	f, err := openStateFile(path, os.O_RDONLY)
	defer f.Close() // nil, which Close ignores, if none
	return err == nil &&
		errors.Is(syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB), syscall.EWOULDBLOCK)
}

// ownerOnly binds a socket owner-only from its first moment: under a umask, not chmod'ed after.
// The umask is the process's, but syscall.ForkLock cannot keep a process from starting meanwhile
// (macOS's package net takes it to make a socket): one that did would make its files owner-only.
func ownerOnly[T any](listen func() (T, error)) (T, error) {
	defer syscall.Umask(syscall.Umask(0o177))
	return listen()
}

func listenUnix(path string) (net.Listener, error) {
	ln, err := ownerOnly(func() (net.Listener, error) { return net.Listen("unix", path) })
	if err == nil {
		ln.(*net.UnixListener).SetUnlinkOnClose(false) // runMonitor knows when it is still ours
	}
	return ln, err
}

// soPasscred is SO_PASSCRED, 16 but where listed; SO_PEERCRED, which package syscall has on Linux
// only, is SO_PASSCRED+1 on every architecture.
var soPasscred = cmp.Or(map[string]int{"ppc64": 20, "ppc64le": 20,
	"mips": 17, "mipsle": 17, "mips64": 17, "mips64le": 17}[runtime.GOARCH], 16)

// dialMonitor connects to the monitor at path if it runs as this user. The socket file can be
// swapped after its owner was checked: only the peer's credentials say who answers.
func dialMonitor(path string, only int) (net.Conn, error) {
	deadline := time.Now().Add(dialTimeout)
	conn, err := net.DialTimeout("unix", path, dialTimeout)
	for errors.Is(err, syscall.EAGAIN) && time.Now().Before(deadline) { // a full backlog
		time.Sleep(time.Millisecond)
		conn, err = net.DialTimeout("unix", path, dialTimeout)
	}
	if err != nil {
		return nil, err
	}
	pid, uid, err := peerCred(conn.(*net.UnixConn))
	if err == nil && uid != os.Getuid() {
		err = failf(exitUnknown, "refusing to talk to %s: it is served by another user (uid %d)",
			path, uid)
	} else if err == nil && only != 0 && pid != only {
		err = syscall.ECONNREFUSED // not the one monitor asked for: as if none were there
	}
	if err != nil {
		conn.Close()
	}
	return conn, err
}

// peerCred is the pid (0 if the system does not tell) and effective uid of a Unix socket's
// peer: struct ucred {pid, uid, gid} on Linux, struct xucred {version, uid, ...} on macOS.
func peerCred(c syscall.Conn) (pid, uid int, err error) {
	rc, _ := c.SyscallConn() // which fails only for a nil connection
	level, option := 0, 1    // SOL_LOCAL, LOCAL_PEERCRED
	if runtime.GOOS == "linux" {
		level, option = syscall.SOL_SOCKET, soPasscred+1
	}
	var cred [76 / 4]uint32 // sizeof(struct xucred); Linux fills in less
	var errno syscall.Errno
	err = rc.Control(func(fd uintptr) { // an error here (a closed socket) must not read as root
		n := uint32(len(cred) * 4)
		_, _, errno = syscall.Syscall6(syscall.SYS_GETSOCKOPT, fd, uintptr(level),
			uintptr(option), uintptr(unsafe.Pointer(&cred[0])), uintptr(unsafe.Pointer(&n)), 0)
		if runtime.GOOS != "linux" {
			peerPid, _ := syscall.GetsockoptInt(int(fd), 0, 2) // LOCAL_PEERPID, or 0 if none
			cred[0] = uint32(peerPid)
		}
	})
	if err == nil && errno != 0 {
		err = os.NewSyscallError("getsockopt", errno)
	}
	if err != nil {
		return 0, -1, err
	}
	return int(int32(cred[0])), int(cred[1]), nil
}

// processStart is when pid started, or "" for a zombie or if the system cannot tell.
func processStart(pid int) string {
	if runtime.GOOS != "linux" {
		ps := exec.Command("ps", "-o", "lstart=", "-p", strconv.Itoa(pid))
		ps.Env = append(os.Environ(), "LC_ALL=C", "TZ=UTC") // for every procdog to read the same
		out, _ := ps.Output()
		return strings.Join(strings.Fields(string(out)), "_")
	}
	// Field 22 counts from the end of the command's name, which may hold ") ".
	stat, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	i := strings.LastIndexByte(string(stat), ')')
	if fields := strings.Fields(string(stat[i+1:])); len(fields) > 19 && fields[0] != "Z" {
		return fields[19]
	}
	return ""
}

// sessionOf is pid's session id, or -1; package syscall has no Getsid on Linux.
func sessionOf(pid int) int {
	sid, _, errno := syscall.Syscall(syscall.SYS_GETSID, uintptr(pid), 0, 0)
	if errno != 0 {
		return -1
	}
	return int(sid)
}

// findExecutable finds name through $PATH or, if it has a slash, in dir: absolute if dir is.
func findExecutable(name, dir string) (string, error) {
	if !strings.Contains(name, "/") {
		return exec.LookPath(name)
	}
	path := filepath.Clean(name)
	if !filepath.IsAbs(path) {
		path = filepath.Join(dir, name)
	}
	if fi, err := os.Stat(path); err != nil {
		return "", &os.PathError{Op: "exec", Path: name, Err: errors.Unwrap(err)}
	} else if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return "", &os.PathError{Op: "exec", Path: name, Err: syscall.EACCES}
	}
	return path, nil
}

// describeExecError drops Go's "exec:" and "fork/exec" prefixes.
func describeExecError(err error) string {
	var ee *exec.Error
	var pe *os.PathError
	if errors.As(err, &ee) {
		return ee.Name + ": " + ee.Err.Error()
	} else if errors.As(err, &pe) {
		return pe.Path + ": " + pe.Err.Error()
	}
	return err.Error()
}

// exitCode is a process's returncode as Python's Popen gave it: -SIGNAL.
func exitCode(ps *os.ProcessState) int {
	if ps != nil && ps.Sys().(syscall.WaitStatus).Signaled() {
		return -int(ps.Sys().(syscall.WaitStatus).Signal())
	}
	return ps.ExitCode() // -1 for nil
}

// openOutputs opens --stdout and --stderr, not truncating them yet; the caller closes them on
// an error. One file by two paths gets one descriptor, or each would overwrite the other.
func openOutputs(o options, logOut *os.File) (stdout, stderr *os.File, err error) {
	flag := os.O_WRONLY | os.O_CREATE | map[bool]int{true: os.O_APPEND}[o.Append]
	stdout, stderr = logOut, logOut
	if o.Stdout != "" {
		stdout, err = openStd("stdout", o.Stdout, flag)
	}
	if o.Stderr != "" && err == nil {
		stderr, err = openStd("stderr", o.Stderr, flag)
		a, _ := stdout.Stat() // SameFile is false for a failed Stat's nil
		b, _ := stderr.Stat()
		if os.SameFile(a, b) {
			stderr.Close()
			stderr = stdout
		}
	}
	return stdout, stderr, err
}

// openStd opens a standard file of the process; waiting on a FIFO would hang the monitor that
// holds the lock.
func openStd(what, path string, flag int) (*os.File, error) {
	f, fi, err := openNoWait(path, flag, 0o666)
	switch {
	case errors.Is(err, syscall.ENXIO):
		return nil, fmt.Errorf("cannot open %s: %s is a FIFO with no reader", what, path)
	case err != nil:
		return nil, fmt.Errorf("cannot open %s: %v", what, err)
	case fi.IsDir():
		f.Close()
		return nil, fmt.Errorf("cannot open %s: %s is a directory", what, path)
	}
	return f, nil
}
