// Command pause is the pod sandbox's process for the real-node test bed, which has no registry to
// pull the usual pause image from: it waits for SIGINT or SIGTERM and exits 0, and reaps zombies
// when it is PID 1 of a pod that shares its PID namespace.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

var version = "vnest-pause"

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-v" {
		fmt.Println(version)
		return
	}
	signals := make(chan os.Signal, 16)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range signals {
		if s != syscall.SIGCHLD {
			fmt.Fprintf(os.Stderr, "shutting down on %v\n", s)
			os.Exit(0)
		}
		for {
			var status syscall.WaitStatus
			if pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil); pid <= 0 || err != nil {
				break
			}
		}
	}
}
