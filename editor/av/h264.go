package av

// Just enough H.264 bitstream reading to pick a parameter-set id for the
// re-encoded edges that does not collide with the source's.

import "github.com/rewind-vod/rewind/media"

const nalSPS = 7

// nalUnits splits an Annex B byte stream into NAL units (without start codes).
func nalUnits(b []byte) [][]byte {
	var out [][]byte
	start := -1
	for i := 0; i+2 < len(b); {
		if b[i] == 0 && b[i+1] == 0 && b[i+2] == 1 {
			if start >= 0 {
				out = append(out, trimZeros(b[start:i]))
			}
			i += 3
			start = i
			continue
		}
		i++
	}
	if start >= 0 && start < len(b) {
		out = append(out, b[start:])
	}
	return out
}

// trimZeros drops the trailing zero of a four-byte start code.
func trimZeros(b []byte) []byte {
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	return b
}

// spsID returns the seq_parameter_set_id of the first SPS in an Annex B
// packet (0 and false if there is none).
func spsID(b []byte) (int, bool) {
	for _, n := range nalUnits(b) {
		if len(n) < 5 || n[0]&0x1f != nalSPS {
			continue
		}
		id, err := media.SPSID(n)
		return id, err == nil
	}
	return 0, false
}
