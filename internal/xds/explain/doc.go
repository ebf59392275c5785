// Package explain walks one fleet's translated xDS as Envoy would for a request, and says what
// happens and why: the listener by port, the filter chain by SNI, the virtual host by :authority,
// the first route whose match the request meets, and that route's filters and action (weighted
// backends, redirect, direct response, 404), or the TCP/UDP proxy of an L4 listener.
//
// It reads only go-control-plane resources (translate.Resources), so what it explains is what
// the fleet's Envoys are sent.
package explain
