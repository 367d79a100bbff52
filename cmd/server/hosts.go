package main

import (
	"net"
	"strconv"
)

// allowedHosts is the Host check the server runs with. --allowed-hosts wins
// when given. Otherwise an open server (no tokens) on loopback answers only
// for its own address, localhost and 127.0.0.1 on its port: a browser on
// the same machine is its only client then, and a web page that rebinds its
// own name to 127.0.0.1 (DNS rebinding) still sends that name in Host. An
// open server on any other address gets no default check (its names are
// not known here, and it is open to the network anyway: the start warns);
// with tokens, a page cannot use a token it does not have.
func allowedHosts(cfg config, withTokens bool, addr net.Addr) []string {
	if len(cfg.allowedHosts) > 0 {
		return cfg.allowedHosts
	}
	tcp, ok := addr.(*net.TCPAddr)
	if withTokens || !ok || !tcp.IP.IsLoopback() {
		return nil
	}
	port := strconv.Itoa(tcp.Port)
	return []string{addr.String(), net.JoinHostPort("localhost", port), net.JoinHostPort("127.0.0.1", port)}
}
