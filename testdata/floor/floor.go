// Floor is the benchmark's yardstick: the least a procdog command can do,
// a Go program that dials a Unix socket, sends one line and prints the one
// line it reads. The benchmark builds it the same way as procdog.
package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
)

func main() {
	conn, err := net.Dial("unix", os.Args[1])
	if err != nil {
		fmt.Println("stopped")
		return
	}
	defer conn.Close()
	fmt.Fprintf(conn, "%s\n", os.Args[2])
	line, _ := bufio.NewReader(conn).ReadString('\n')
	fmt.Print(line)
}
