package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// ffmpeg runs the peer and returns its wall time and peak RSS (bytes,
// -1 unknown).
func ffmpeg(ctx context.Context, args ...string) (time.Duration, int64, error) {
	args = append([]string{"-hide_banner", "-nostdin", "-v", "error"}, args...)
	cmd := exec.CommandContext(ctx, "ffmpeg", args...)
	cmd.Stderr = os.Stderr
	t0 := time.Now()
	if err := cmd.Run(); err != nil {
		return 0, 0, fmt.Errorf("ffmpeg %v: %w", args, err)
	}
	took := time.Since(t0)
	rss := int64(-1)
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		rss = ru.Maxrss << 10 // KiB on Linux
	}
	return took, rss, nil
}

// secs formats a duration as ffmpeg's -ss/-to take it.
func secs(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', 3, 64) }

// probe is what ffprobe says of an output.
type probe struct {
	size     int64
	duration float64 // container, s
	vdur     float64 // video stream, s
	vstart   float64 // video start_time, s
	vframes  int     // video packets counted (one frame each for H.264 in MP4)
	astart   float64 // audio start_time, s
}

// ffprobe reads an output's duration and counts its video frames.
func ffprobe(ctx context.Context, path string) (probe, error) {
	out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-count_packets",
		"-show_entries", "format=duration,size:stream=codec_type,start_time,duration,nb_read_packets",
		"-of", "json", path).Output()
	if err != nil {
		return probe{}, fmt.Errorf("ffprobe %s: %w", path, err)
	}
	var v struct {
		Format struct {
			Duration string `json:"duration"`
			Size     string `json:"size"`
		} `json:"format"`
		Streams []struct {
			CodecType string `json:"codec_type"`
			StartTime string `json:"start_time"`
			Duration  string `json:"duration"`
			Packets   string `json:"nb_read_packets"`
		} `json:"streams"`
	}
	if err := json.Unmarshal(out, &v); err != nil {
		return probe{}, fmt.Errorf("ffprobe %s: %w", path, err)
	}
	num := func(s string) float64 { f, _ := strconv.ParseFloat(s, 64); return f }
	p := probe{duration: num(v.Format.Duration)}
	p.size, _ = strconv.ParseInt(v.Format.Size, 10, 64)
	haveVideo := false
	for _, s := range v.Streams {
		switch s.CodecType {
		case "video":
			haveVideo, p.vstart, p.vdur = true, num(s.StartTime), num(s.Duration)
			p.vframes, _ = strconv.Atoi(s.Packets)
		case "audio":
			p.astart = num(s.StartTime)
		}
	}
	if !haveVideo {
		return p, fmt.Errorf("ffprobe %s: no video stream", path)
	}
	return p, nil
}
