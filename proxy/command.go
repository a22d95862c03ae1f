package proxy

import (
	"fmt"
	"math"
	"strings"

	"github.com/rewind-vod/rewind/media"
	"github.com/rewind-vod/rewind/origin/rtmpwire"
)

// typeCommandAMF3 is an AMF3 command message: one format byte (0), then
// AMF0 values, as every encoder that sends it does.
const typeCommandAMF3 = 17

// command is a client command as far as routing needs it.
type command struct {
	Name string
	Tx   float64
	// connect: the command object's app and objectEncoding.
	App            string
	ObjectEncoding float64
	// publish and play: the stream name argument as sent (query included).
	StreamName string
}

// isCommand reports whether a message type carries a command.
func isCommand(typeID byte) bool {
	return typeID == rtmpwire.TypeCommandAMF0 || typeID == typeCommandAMF3
}

// commandBody is the AMF0 part of a command message.
func commandBody(typeID byte, p []byte) ([]byte, error) {
	if typeID == typeCommandAMF3 {
		if len(p) == 0 || p[0] != 0 {
			return nil, fmt.Errorf("AMF3 command message without the AMF0 format byte")
		}
		return p[1:], nil
	}
	return p, nil
}

// parseCommand decodes a command message (types 20 and 17). Only connect,
// publish and play are decoded past the transaction id; for them a field
// of the wrong kind is an error, since the proxy cannot route without it.
func parseCommand(typeID byte, payload []byte) (command, error) {
	p, err := commandBody(typeID, payload)
	if err != nil {
		return command{}, err
	}
	v, p, err := media.ReadAMF0(p)
	if err != nil {
		return command{}, fmt.Errorf("command name: %w", err)
	}
	name, ok := v.(string)
	if !ok || name == "" {
		return command{}, fmt.Errorf("command name is %s, want a string", describe(v))
	}
	cmd := command{Name: name}
	if len(p) == 0 {
		return cmd, nil // a bare name (some encoders' FCUnpublish)
	}
	v, p, err = media.ReadAMF0(p)
	if err != nil {
		return cmd, fmt.Errorf("%s: transaction id: %w", name, err)
	}
	if tx, ok := v.(float64); ok && !math.IsNaN(tx) {
		cmd.Tx = tx
	}
	switch name {
	case "connect":
		v, _, err = media.ReadAMF0(p)
		if err != nil {
			return cmd, fmt.Errorf("connect: command object: %w", err)
		}
		obj, ok := v.(map[string]any)
		if !ok {
			return cmd, fmt.Errorf("connect: command object is %s, want an object", describe(v))
		}
		cmd.App = amfString(obj, "app")
		if enc, ok := obj["objectEncoding"].(float64); ok && enc == 3 {
			cmd.ObjectEncoding = 3
		}
	case "publish", "play":
		// The command object (null), then the stream name.
		if _, p, err = media.ReadAMF0(p); err != nil {
			return cmd, fmt.Errorf("%s: command object: %w", name, err)
		}
		v, _, err = media.ReadAMF0(p)
		if err != nil {
			return cmd, fmt.Errorf("%s: stream name: %w", name, err)
		}
		s, ok := v.(string)
		if !ok {
			return cmd, fmt.Errorf("%s: stream name is %s, want a string", name, describe(v))
		}
		cmd.StreamName = s
	}
	return cmd, nil
}

// splitApp is the app of a connect as the origin reads it: the query some
// clients put on the app (rtmp://host/app?k=v/name) cut off, trailing
// slashes trimmed.
func splitApp(app string) string {
	app, _, _ = strings.Cut(app, "?")
	return strings.TrimRight(app, "/")
}
