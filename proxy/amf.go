package proxy

import "fmt"

// The AMF0 values the proxy writes and reads are media's (AppendAMF0,
// AMF0Command, ReadAMF0): its answers to connect and createStream, its
// error statuses, and the fields of the client commands it routes by.

// amfString is m[key] when it is a string.
func amfString(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

func describe(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case float64:
		return "a number"
	case bool:
		return "a boolean"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}
