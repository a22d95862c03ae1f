// Package proxy is the stateless RTMP and HTTP-FLV proxy tier in front of
// the origin nodes (`rewind proxy`). It routes by stream name, from the
// node registry alone, so any number of copies behind one L4 balancer send
// the same stream to the same node without talking to each other:
//
//   - a publish goes to the node it is live on (a takeover or a reconnect),
//     else to the ready node it ended on a short while ago, else to the
//     node weighted rendezvous hashing picks among the ready nodes (see
//     Rank for the exact formula, which is the contract between proxies);
//   - a play (RTMP or HTTP-FLV) goes to the node the stream is live on.
//
// The proxy answers the client's connect and createStream itself, reads
// up to the publish or play command to learn the stream name, then hands
// the session to the node: it replays every byte the client sent, and
// from then on copies client bytes verbatim (the signed query, the
// publish command and every media chunk reach the origin unchanged, so
// auth stays there). What the node sends back is decoded and re-chunked,
// because the client's chunk decoder follows the proxy's encoding; the
// node's answers to the connect and createStream the proxy answered are
// dropped. Message stream ids are never rewritten: a node that gives
// createStream another id than the proxy did (1, as nginx-rtmp, go-rtmp,
// SRS and FMS give) fails the session with an error saying so, since the
// client's verbatim bytes name the proxy's id.
package proxy
