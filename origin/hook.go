package origin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// HookRequest is the JSON body POSTed to AuthConfig.HookURL for each publish.
// The hook answers 2xx to allow it; anything else refuses it.
type HookRequest struct {
	App        string `json:"app"`
	Name       string `json:"name"`
	Query      string `json:"query"` // raw query string of the publish URL, without '?'
	ClientAddr string `json:"client_addr"`
	Node       string `json:"node"`
}

// errHookDenied and errHookFailed tell a refusal by the backend from a hook
// that could not be asked (timeout, transport error, bad URL).
var (
	errHookDenied = errors.New("publish hook denied")
	errHookFailed = errors.New("publish hook failed")
)

type hookClient struct {
	url     string
	timeout time.Duration
	client  *http.Client
}

func newHookClient(url string, timeout time.Duration) *hookClient {
	return &hookClient{
		url:     url,
		timeout: timeout,
		// The per-request context carries the timeout; the client's own
		// Timeout is a backstop for a context that is never cancelled.
		client: &http.Client{Timeout: timeout + time.Second},
	}
}

// check asks the hook. It returns nil (allowed), an error wrapping
// errHookDenied (non-2xx answer) or one wrapping errHookFailed.
func (h *hookClient) check(ctx context.Context, req HookRequest) error {
	body, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("%w: encode request: %v", errHookFailed, err)
	}
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: %v", errHookFailed, err)
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("User-Agent", "rewind-origin")
	resp, err := h.client.Do(hr)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("%w: %s did not answer within %s", errHookFailed, h.url, h.timeout)
		}
		return fmt.Errorf("%w: %v", errHookFailed, err)
	}
	defer resp.Body.Close()
	// Drain a little so the connection can be reused; never read an
	// unbounded body from the backend.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("%w: %s answered %s", errHookDenied, h.url, resp.Status)
	}
	return nil
}
