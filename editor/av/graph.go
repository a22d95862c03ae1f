package av

import (
	"errors"
	"fmt"

	"github.com/asticode/go-astiav"
)

// graph is a linear libavfilter chain from a buffer source to a buffer sink.
type graph struct {
	g    *astiav.FilterGraph
	src  *astiav.FilterContext
	sink *astiav.FilterContext
	out  *astiav.Frame
}

// newGraph builds "src -> desc -> sink"; audio picks abuffer/abuffersink.
func newGraph(audio bool, args astiav.FilterArgs, desc string) (_ *graph, err error) {
	srcName, sinkName := "buffer", "buffersink"
	if audio {
		srcName, sinkName = "abuffer", "abuffersink"
	}
	gr := &graph{g: astiav.AllocFilterGraph()}
	if gr.g == nil {
		return nil, errors.New("av: cannot allocate filter graph")
	}
	defer func() {
		if err != nil {
			gr.free()
		}
	}()
	src, sink := astiav.FindFilterByName(srcName), astiav.FindFilterByName(sinkName)
	if src == nil || sink == nil {
		return nil, fmt.Errorf("av: filters %s/%s not available", srcName, sinkName)
	}
	if gr.src, err = gr.g.NewFilterContext(src, "in", args); err != nil {
		return nil, fmt.Errorf("av: filter %s %s: %w", srcName, args, err)
	}
	if gr.sink, err = gr.g.NewFilterContext(sink, "out", nil); err != nil {
		return nil, fmt.Errorf("av: filter %s: %w", sinkName, err)
	}
	outputs := astiav.AllocFilterInOut()
	if outputs == nil {
		return nil, errors.New("av: cannot allocate filter outputs")
	}
	defer outputs.Free()
	inputs := astiav.AllocFilterInOut()
	if inputs == nil {
		return nil, errors.New("av: cannot allocate filter inputs")
	}
	defer inputs.Free()
	outputs.SetName("in")
	outputs.SetFilterContext(gr.src)
	outputs.SetPadIdx(0)
	outputs.SetNext(nil)
	inputs.SetName("out")
	inputs.SetFilterContext(gr.sink)
	inputs.SetPadIdx(0)
	inputs.SetNext(nil)
	if err := gr.g.Parse(desc, inputs, outputs); err != nil {
		return nil, fmt.Errorf("av: filter graph %q: %w", desc, err)
	}
	if err := gr.g.Configure(); err != nil {
		return nil, fmt.Errorf("av: filter graph %q: %w", desc, err)
	}
	gr.out = astiav.AllocFrame()
	return gr, nil
}

// push feeds f (nil: end of stream) and hands every frame the graph
// produces to fn; frames are unreferenced after fn returns.
func (gr *graph) push(f *astiav.Frame, fn func(*astiav.Frame) error) error {
	if err := gr.src.BuffersrcAddFrame(f, astiav.NewBuffersrcFlags(astiav.BuffersrcFlagKeepRef)); err != nil {
		return fmt.Errorf("av: filter: %w", err)
	}
	for {
		if err := gr.sink.BuffersinkGetFrame(gr.out, astiav.NewBuffersinkFlags()); err != nil {
			if errors.Is(err, astiav.ErrEagain) || errors.Is(err, astiav.ErrEof) {
				return nil
			}
			return fmt.Errorf("av: filter: %w", err)
		}
		err := fn(gr.out)
		gr.out.Unref()
		if err != nil {
			return err
		}
	}
}

func (gr *graph) free() {
	if gr.out != nil {
		gr.out.Free()
	}
	gr.g.Free()
}
