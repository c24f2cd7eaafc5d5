#!/usr/bin/env bash
# run_test.sh: a tour of procdog, checked against a golden file.
#
# It runs the real binary the way a user would: each command is shown as
# typed, then what it printed (stdout and stderr) and its exit code. Pids,
# times, the port and the temporary directories are replaced by PID, TIME,
# PORT, $DIR and $WORK, and the result must equal testdata/run_test.golden.
#
#	./run_test.sh                         build procdog.go and run the tour
#	PROCDOG_BIN=/path/procdog ./run_test.sh   use that binary instead
#	UPDATE=1 ./run_test.sh                rewrite the golden file on purpose
#
# State goes to a fresh $PROCDOG_DIR, never /var/tmp, and HOME is the
# working directory, so no user's processes or ~/.procdog.cfg take part.
set -euo pipefail

# A monitor ends only once the last member of its process's group has gone,
# zombies included, and an orphaned zombie is init's to reap, which some
# (a VM's, a container's) do only every second or two. So on Linux the tour
# runs as the child of a reaper of its own, a subreaper, as a shell under
# systemd would be reaped at once.
if [ -z "${PROCDOG_TOUR_REAPER:-}" ] && [ "$(uname -s)" = Linux ] && command -v python3 >/dev/null; then
	export PROCDOG_TOUR_REAPER=1
	exec python3 -c '
import ctypes, os, signal, sys
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
tour = os.fork()
if tour == 0:
    os.execvp("bash", ["bash"] + sys.argv[1:])
for sig in signal.SIGINT, signal.SIGTERM, signal.SIGHUP:
    signal.signal(sig, lambda sig, frame: os.kill(tour, sig))
while True:
    pid, status = os.wait()
    if pid == tour:
        sys.exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))
' "$0" "$@"
fi

here=$(cd "$(dirname "$0")" && pwd)
golden=$here/testdata/run_test.golden

# One short temporary tree (a socket path must fit in about 100 bytes):
# bin/procdog, state/ for PROCDOG_DIR, work/ for the tour.
tmp=$(mktemp -d /tmp/procdog-test.XXXXXX)
mkdir "$tmp/bin" "$tmp/state" "$tmp/work"
export PROCDOG_DIR=$tmp/state
WORK=$tmp/work

# cleanup stops every name the tour used, in both state directories
# ($PROCDOG_DIR, and $WORK/fleet where the tour lists), then kills by pid
# whatever it started that is still alive: the processes (pid=N, or "pid":N
# in JSON, in the responses) and their monitors (procdog[N] in the monitor
# logs). Never by name.
cleanup() {
	set +e
	local dir log name pid
	for dir in "$PROCDOG_DIR" "$WORK/fleet"; do
		for log in "$dir"/procdog.*.log; do
			[ -e "$log" ] || continue
			name=${log#"$dir"/procdog.}
			PROCDOG_DIR=$dir procdog stop "${name%.log}" >/dev/null 2>&1
		done
	done
	for pid in $(grep -Eoh '(pid=|"pid":)[0-9]+' "$tmp/out" 2>/dev/null | tr -dc '0-9\n' | sort -u); do
		kill -0 "$pid" 2>/dev/null && kill -TERM "$pid"
	done
	# A monitor that lingers after its process has ended has nothing left to
	# stop, so SIGKILL loses nothing.
	for pid in $(cat "$PROCDOG_DIR"/procdog.*.log "$WORK"/fleet/procdog.*.log 2>/dev/null |
		grep -Eo 'procdog\[[0-9]+\]' | tr -dc '0-9\n' | sort -u); do
		kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

if [ -n "${PROCDOG_BIN:-}" ]; then
	case $PROCDOG_BIN in /*) ;; *) PROCDOG_BIN=$PWD/$PROCDOG_BIN ;; esac
	ln -s "$PROCDOG_BIN" "$tmp/bin/procdog"
else
	command -v go >/dev/null || PATH=$PATH:/usr/local/go/bin
	(cd "$here" && go build -o "$tmp/bin/procdog" .)
fi
# The system's python3 and curl come first: a version manager's shims (pyenv)
# can take seconds to start on a busy machine.
export PATH=$tmp/bin:/usr/bin:/bin:$PATH
export HOME=$WORK
cd "$WORK"

# PORT is a free TCP port for the HTTP server in the tour.
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export PORT

# run shows a command as typed, then its output and exit code. The command
# is a string so that the golden file shows it exactly as written here.
run() {
	local out rc=0
	printf '$ %s\n' "$1"
	out=$(eval "$1" 2>&1) || rc=$?
	[ -z "$out" ] || printf '%s\n' "$out"
	printf '(exit %d)\n' "$rc"
}

# eventually waits up to 10 seconds for a condition to hold. Should it not,
# the golden diff shows why.
eventually() {
	local deadline=$((SECONDS + 10))
	until "$@"; do
		if ((SECONDS >= deadline)); then
			printf 'run_test.sh: gave up waiting for: %s\n' "$*"
			return 0
		fi
		sleep 0.05
	done
}

is_stopped() { [ "$(procdog status "$1" 2>&1)" = stopped ]; }
status_is() { [ "$(procdog status "$1" 2>&1)" = "$2" ]; }
status_matches() { procdog status "$1" 2>&1 | grep -Eq "$2"; }

# only_log_left holds once NAME's monitor has ended: socket and lock gone.
only_log_left() {
	local f
	for f in "$PROCDOG_DIR/procdog.$1".*; do
		case $f in *.log) ;; *) return 1 ;; esac
	done
}

# say starts a section of the tour with its comment lines.
say() {
	echo
	printf '# %s\n' "$@"
}

# tour is the session the golden file records. Where it reads a lingering
# monitor's answer, the linger is long (10 s), so that a busy machine cannot
# make the answer late; where it waits for a monitor to end, the linger is
# short (0.3 s), and eventually waits until the monitor has ended: a step
# never relies on time having passed. cleanup ends the monitors that are
# still lingering.
tour() {
	say "Quick start: start, status, stop. State files live in \$PROCDOG_DIR."
	run 'procdog start myprocess --command "sleep 100" --linger 10'
	run 'procdog status myprocess'
	run 'ls $PROCDOG_DIR'
	run 'procdog stop myprocess'
	say "While the monitor lingers, a second stop reports how the process ended;" \
		"with --strict, stopping a process that is not running is an error, exit 5."
	run 'procdog stop myprocess'
	run 'procdog stop myprocess --strict'

	say "--strict: starting a running process is an error, exit 4."
	run 'procdog start twice --command "sleep 100" --strict --linger 0.3'
	run 'procdog start twice --command "sleep 100" --strict'
	run 'procdog start twice --command "sleep 100"'
	run 'procdog stop twice'

	say "Short-lived processes: start answers as soon as they exit" \
		"(--settle only bounds how long it waits for one that keeps running)," \
		"and the exit code can be read until the monitor stops lingering."
	run 'procdog start exit3 --command '\''sh -c "exit 3"'\'' --settle 5 --linger 10'
	run 'procdog status exit3'
	run 'procdog start succeeds --command true --settle 5 --linger 0.3'
	run 'procdog start fails --command false --settle 5 --linger 0.3'
	eventually is_stopped fails
	run 'procdog status fails'

	say "A server with a health check, waited for at start, output to a file."
	run 'mkdir backend && echo ok >backend/ping && echo "an earlier run" >backend/backend.log'
	run 'procdog start backend --command="python3 -m http.server $PORT --bind 127.0.0.1" \
  --health-command="curl -sf http://127.0.0.1:$PORT/ping" \
  --health-count=100 --health-delay=0.1 \
  --dir=$HOME/backend \
  --stdout=backend.log --stderr=backend.log --append \
  --ensure-healthy --strict --linger 0.3'
	run 'procdog status backend'
	run 'procdog wait backend'
	run 'head -2 backend/backend.log'
	run 'procdog stop backend --strict'
	eventually is_stopped backend
	say "Once the monitor has stopped lingering:"
	run 'procdog stop backend --strict'

	say "The same through a config file: ./procdog.cfg, read from the working directory."
	cat >procdog.cfg <<'EOF'
# Procdog config file. Each section is a process name.
[backend]
command=python3 -m http.server $PORT --bind 127.0.0.1
health_command=curl -sf http://127.0.0.1:$PORT/ping
health_count=100
health_delay=.1
dir=$HOME/backend
stdout=backend.log
stderr=backend.log
append=False
ensure_healthy=True
strict=True
linger=0.3
EOF
	run 'cat procdog.cfg'
	run 'procdog start backend'
	run 'procdog status backend'
	run 'head -1 backend/backend.log'
	run 'procdog stop backend'
	say "A server that never passes its health check is stopped, exit 6."
	run 'procdog start backend --health-command="curl -sf http://127.0.0.1:$PORT/nope" --health-count=2 --health-delay=1'
	say "Once a monitor has ended, only its log is left: no socket, no lock."
	eventually only_log_left backend
	run 'ls $PROCDOG_DIR/procdog.backend.*'

	say "Environment variables are expanded in commands, dirs and paths; \$\$ is a \$."
	run 'GREETING=hello procdog start greet --command '\''echo $GREETING from $$HOME'\'' --stdout greet.out --settle 5 --linger 0.3'
	run 'cat greet.out'
	run 'procdog start greet --command '\''echo hello $BADENVVAR'\'''

	say "Errors."
	run 'procdog start foo@bar --command true'
	run 'procdog start nocommand'
	run 'procdog start'
	run 'procdog frobnicate myprocess'
	run 'procdog start myprocess --command true --frobnicate'
	run 'procdog start myprocess --command true --linger soon'
	run 'procdog start myprocess --command true --dir /etc/passwd'
	run 'procdog start myprocess --command '\''echo "unbalanced'\'''
	cat >broken.cfg <<'EOF'
[badbool]
command=true
ensure_healthy=not-valid

[badint]
command=true
health_count=ten

[badkey]
command=true
colour=blue
EOF
	run 'cat broken.cfg'
	run 'procdog start badbool --config broken.cfg'
	run 'procdog start badint --config broken.cfg'
	run 'procdog start badkey --config broken.cfg'
	run 'procdog start nosuch --command no-such-command'

	say "New commands: signal, logs, --json and restart. A shell script that" \
		"reloads on SIGHUP stands in for a server."
	cat >reloader.sh <<'EOF'
trap 'echo reloading' HUP
echo started
while :; do sleep 0.1; done
EOF
	run 'cat reloader.sh'
	run 'procdog start reloader --command "sh reloader.sh" --stdout reloader.out --stderr /dev/null --linger 0.3'
	eventually grep -q started reloader.out
	run 'procdog signal reloader HUP'
	eventually grep -q reloading reloader.out
	say "logs prints the end of the output: of stdout's file (--stdout, else the monitor log), then" \
		"of stderr's if it is another, under ==> FILE <==. -n says how much."
	run 'procdog logs reloader -n 2'
	say "--json prints the same facts as JSON; the exit codes stay the same."
	run 'procdog status reloader --json'
	say "restart stops it and starts it again with the options it was started with:" \
		"no --command needed. Without --append, the output file starts afresh."
	run 'procdog restart reloader'
	eventually grep -q started reloader.out
	run 'procdog logs reloader'
	run 'procdog stop reloader --json'
	eventually is_stopped reloader
	run 'procdog status reloader --json'

	say "list prints NAME: status for every name in the state directory, sorted;" \
		"here in a state directory of its own, so that only these two show."
	run 'PROCDOG_DIR=$HOME/fleet procdog start api --command "sleep 100" --linger 0.3'
	run 'PROCDOG_DIR=$HOME/fleet procdog start batch --command '\''sh -c "exit 3"'\'' --settle 5 --linger 10'
	run 'PROCDOG_DIR=$HOME/fleet procdog list'
	run 'PROCDOG_DIR=$HOME/fleet procdog list --json'
	run 'PROCDOG_DIR=$HOME/fleet procdog stop api'

	say "Built-in health checks, no curl needed: --health-url is healthy when an HTTP GET" \
		"answers 2xx or 3xx, --health-tcp when a TCP connection opens. In a config file:" \
		"health_url and health_tcp, with \$VAR expanded."
	cat >web.cfg <<'EOF'
[web]
command=python3 -m http.server $PORT --bind 127.0.0.1
health_url=http://127.0.0.1:$PORT/ping
health_count=100
health_delay=.1
ensure_healthy=True
dir=$HOME/backend
stdout=web.log
stderr=web.log
linger=0.3
EOF
	run 'cat web.cfg'
	run 'procdog start web --config web.cfg'
	run 'head -1 backend/web.log'
	run 'procdog stop web'
	say "A process has one kind of health check: one on the command line replaces the file's."
	run 'procdog start web --config web.cfg --health-tcp 127.0.0.1:$PORT'
	run 'head -1 backend/web.log'
	run 'procdog start port --command "sleep 100" --health-tcp 127.0.0.1:$PORT --linger 0.3'
	run 'procdog start missing --command "sleep 100" --health-url http://127.0.0.1:$PORT/nope \
  --health-count 2 --health-delay 0.1 --linger 0.3'
	run 'procdog wait missing'
	run 'procdog stop web'
	run 'procdog status port'
	run 'procdog stop port'
	run 'procdog stop missing'

	say "--restart on-failure restarts a process that fails, at most --max-restarts times," \
		"with a delay that doubles each time; responses count the restarts. A process" \
		"that keeps failing ends as exited, with its last return code."
	run 'procdog start flaky --command '\''sh -c "exit 3"'\'' --restart on-failure --max-restarts 2 --restart-delay 0.05 \
  --settle 5 --linger 10'
	eventually status_is flaky "exited, restarts=2, returncode=3"
	run 'procdog status flaky'
	eventually grep -q "flaky: not restarting" "$PROCDOG_DIR/procdog.flaky.log"
	run 'grep -E "flaky: (process exited|restarting|not restarting)" $PROCDOG_DIR/procdog.flaky.log'
	say "A process that fails once, then runs. A stop is for good: no restart follows."
	cat >fails-once.sh <<'EOF'
if [ ! -e failed-once ]; then touch failed-once; exit 1; fi
exec sleep 100
EOF
	run 'cat fails-once.sh'
	run 'procdog start recovers --command "sh fails-once.sh" --restart on-failure --restart-delay 0.05 --settle 5 --linger 10'
	eventually status_matches recovers '^running, pid=[0-9]+, restarts=1$'
	run 'procdog status recovers'
	run 'procdog stop recovers'
	eventually grep -q "recovers: process exited: returncode=-15" "$PROCDOG_DIR/procdog.recovers.log"
	run 'procdog status recovers'

	say "Errors in the new options and commands."
	run 'procdog start web --command true --health-url https://127.0.0.1:$PORT/ping'
	run 'procdog start web --command true --health-tcp 127.0.0.1'
	run 'procdog start web --command true --health-command true --health-tcp 127.0.0.1:$PORT'
	run 'procdog start web --command true --restart sometimes'
	run 'procdog signal web SIGNOPE'
	# web was stopped above with a linger of 0.3 s: signal it once that has
	# passed, however long the steps since took.
	eventually is_stopped web
	run 'procdog signal web HUP'
	run 'procdog logs nothing'
}

tour >"$tmp/out"

# normalise replaces what differs from run to run.
normalise() {
	sed -E \
		-e 's/[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z/TIME/g' \
		-e 's/pid=[0-9]+/pid=PID/g' \
		-e 's/"pid":[0-9]+/"pid":PID/g' \
		-e 's/procdog\[[0-9]+\]/procdog[PID]/g' \
		-e 's/not healthy after [0-9]+ checks?/not healthy after N checks/' \
		-e "s#$PROCDOG_DIR#\$DIR#g" \
		-e "s#$WORK#\$WORK#g" \
		-e "s/(http\.server |127\.0\.0\.1:)$PORT/\1PORT/g"
}
normalise <"$tmp/out" >"$tmp/got"

if [ -n "${UPDATE:-}" ]; then
	mkdir -p "$(dirname "$golden")"
	cp "$tmp/got" "$golden"
	echo "run_test.sh: updated ${golden#"$here"/}"
	exit 0
fi
if ! diff -u "$golden" "$tmp/got"; then
	echo "run_test.sh: FAIL: the output above differs from ${golden#"$here"/} (- expected, + got)"
	echo "run_test.sh: if the change is intended, run UPDATE=1 ./run_test.sh and review the diff"
	exit 1
fi
echo "run_test.sh: ok"
