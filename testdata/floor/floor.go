// Floor is the benchmark's yardstick: the least a procdog command can do.
// The benchmark builds it the same way as procdog, and it starts processes
// with os/exec, as procdog does.
//
//	floor SOCKET LINE     dials a Unix socket, sends one line and prints
//	                      the one line it reads: status and stop.
//	floor -start CMD ARG  re-executes itself as a detached monitor, which
//	                      starts CMD in its own process group, answers
//	                      "running, pid=N" on a pipe and waits for CMD:
//	                      start, with no lock, socket, log or options.
package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"syscall"
)

func main() {
	switch {
	case len(os.Args) > 2 && os.Args[1] == "-start":
		start(os.Args[2:])
	case len(os.Args) > 2 && os.Args[1] == "-monitor":
		monitor(os.Args[2:])
	case len(os.Args) == 3:
		status(os.Args[1], os.Args[2])
	default:
		fmt.Fprintln(os.Stderr, "usage: floor SOCKET LINE | floor -start CMD [ARG...]")
		os.Exit(2)
	}
}

func status(socket, line string) {
	conn, err := net.Dial("unix", socket)
	if err != nil {
		fmt.Println("stopped")
		return
	}
	defer conn.Close()
	fmt.Fprintf(conn, "%s\n", line)
	answer, _ := bufio.NewReader(conn).ReadString('\n')
	fmt.Print(answer)
}

func start(argv []string) {
	exe, err := os.Executable()
	check(err)
	r, w, err := os.Pipe()
	check(err)
	cmd := exec.Command(exe, append([]string{"-monitor"}, argv...)...)
	cmd.Dir, cmd.Env, cmd.ExtraFiles = "/", append(os.Environ(), "GOMAXPROCS=1"), []*os.File{w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	check(cmd.Start())
	w.Close()
	answer, err := bufio.NewReader(r).ReadString('\n')
	check(err)
	fmt.Print(answer)
}

func monitor(argv []string) {
	syscall.CloseOnExec(3) // the command must not hold the client's pipe
	ready := os.NewFile(3, "ready")
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	check(cmd.Start())
	fmt.Fprintf(ready, "running, pid=%d\n", cmd.Process.Pid)
	ready.Close()
	cmd.Wait()
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
}
