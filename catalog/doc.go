// Package catalog describes what was recorded: stream names, run ids, storage
// keys, the run manifest (run.json) and the binary index chunk format, with
// the writer and readers built on infra/store. It is the contract shared by
// the recorder (writer) and vodapi/editor (readers); see DESIGN.md.
package catalog
