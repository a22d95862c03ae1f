// Package steer answers players and SDKs with the scheduler's CDN ranking:
// HLS Content Steering (draft-pantos-hls-rfc8216bis: a multivariant
// playlist with one variant per CDN pathway, and the steering manifest
// players reload every TTL), and an address API listing pull and push URLs
// in ranked order. It knows the ranking only through Ranker and the
// client's region only through an injected function; it links neither the
// replay API nor the policy.
//
// Decisions, with their reasons:
//
//   - State lives in the URIs, not in the server: SERVER-URI and RELOAD-URI
//     carry v (StateVersion), the stream, the pathways the session's
//     multivariant playlist listed and a random session id, so any replica
//     (or a restarted one) answers any player. ParseQuery reads it strictly.
//   - PATHWAY-PRIORITY is the region's order restricted to the session's
//     pathways (plus clones): a Pathway ID the playlist did not define has
//     made AVPlayer reject the whole manifest. If nothing ranked is usable, the
//     static order of the session's pathways.
//   - A pathway configured after a session started is offered as a
//     PATHWAY-CLONE of Pathway.CloneOf (URI-REPLACEMENT HOST and PARAMS);
//     SetPathways swaps the configuration at run time.
//   - 410 Gone (a player stops reloading and stays on its pathway) when the
//     state is of another version, the stream is not steered
//     (Config.Enabled) or no pathway of the session is left; 400 for a
//     query that does not parse; 429 with Retry-After over MaxConcurrent.
//     hls.js 1.7.4 also stops steering after a 429 (its error path returns
//     before rescheduling), so the bound is for overload, not pacing.
//   - The Ranker gets RankerDeadline (50 ms); then the last order it gave
//     for the region, then the static order: never an error or a hang.
//     Concurrent requests of a region share one Ranker call.
//   - TTL 10 s: a player leaves a failing or demoted CDN within about TTL
//     plus one segment, for one small request per player per TTL.
//   - Cache-Control: the multivariant playlist is "private, max-age=5" (it
//     depends on the client's region, which a shared cache cannot key on,
//     and carries a fresh session id); the manifest and the address API are
//     "no-store" (per session, and they follow the ranking).
//   - BANDWIDTH is nominal (Config.Bandwidth, 3 Mbit/s): every variant is
//     the same single rendition on another CDN.
//   - Every answer has Access-Control-Allow-Origin: *, since players run on
//     other sites' pages and fetch the manifest cross-origin.
//
// Metrics: rewind_steer_requests_total{route,code} and
// rewind_steer_answers_total{source="ranker|last|static"}, one per order
// given (a playlist, a manifest, and the pull and push lists of an address
// answer).
package steer
