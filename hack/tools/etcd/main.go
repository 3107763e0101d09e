// Command etcd is a thin wrapper over the etcd server's own entry point, so that hack/build-kit.sh
// can build a pinned etcd from the Go module proxy.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
