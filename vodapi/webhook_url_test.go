package vodapi

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/infra/netguard"
	"github.com/rewind-vod/rewind/infra/store"
)

// A webhook_url aimed inside (loopback, metadata, private and unique-local
// ranges, IPv4-mapped forms, localhost) or carrying user:password is a 400
// JSON bad_webhook_url at submit; nothing is stored or queued.
func TestClipWebhookURLRefused(t *testing.T) {
	a, q := clipAPI(t, Config{})
	t0 := time.Now().Add(-time.Hour)
	writeRun(t, a.st, t0, false)
	body := func(hook string) string {
		return fmt.Sprintf(`{"stream":"live/cam","start":%d,"end":%d,"webhook_url":%q}`, t0.Unix()+1, t0.Unix()+5, hook)
	}
	for _, hook := range []string{
		"http://127.0.0.1/",
		"http://localhost/",
		"http://0.0.0.0/",
		"http://[::1]/",
		"http://169.254.169.254/latest/meta-data/",
		"http://10.0.0.1/",
		"http://[fd00::1]/",
		"http://user:pass@example.com/",
		"http://[::ffff:127.0.0.1]/",
		"http://hooks.localhost:8080/x",
		"http://100.64.1.2/",
		"http://2130706433/",
	} {
		resp, b := post(t, a.ts.URL+"/v1/clips", body(hook))
		var je struct{ Error, Code string }
		if err := json.Unmarshal(b, &je); err != nil || resp.StatusCode != 400 || je.Code != "bad_webhook_url" {
			t.Errorf("%s: %d %s, want 400 bad_webhook_url", hook, resp.StatusCode, b)
			continue
		}
		if !strings.Contains(je.Error, "webhook_url") || !strings.Contains(je.Error, "--webhook-allow") {
			t.Errorf("%s: unclear message %q", hook, je.Error)
		}
		if strings.Contains(je.Error, "user:pass") {
			t.Errorf("%s: the message echoes the password: %q", hook, je.Error)
		}
	}
	if ids := queued(t, q); len(ids) != 0 {
		t.Errorf("refused webhooks queued %v", ids)
	}
	res, err := a.st.List(context.Background(), catalog.ClipsPrefix, store.ListOptions{})
	if err != nil || len(res.Objects) != 0 {
		t.Errorf("refused webhooks stored %v (%v)", res.Objects, err)
	}
	// A public name is accepted as given.
	resp, b := post(t, a.ts.URL+"/v1/clips", body("https://hooks.example.com/rewind"))
	if resp.StatusCode != 202 {
		t.Errorf("public webhook: %d %s", resp.StatusCode, b)
	}
}

// The operator's allow-list opens internal receivers it names, and only those.
func TestClipWebhookAllowList(t *testing.T) {
	g, err := netguard.New(netguard.Config{Allow: []string{"10.0.0.0/8", "hooks.internal"}})
	if err != nil {
		t.Fatal(err)
	}
	a, q := clipAPI(t, Config{WebhookGuard: g})
	t0 := time.Now().Add(-time.Hour)
	writeRun(t, a.st, t0, false)
	for hook, want := range map[string]int{
		"http://10.2.3.4:8080/hook":   202,
		"http://hooks.internal/hook":  202,
		"http://192.168.0.1/hook":     400,
		"http://127.0.0.1/hook":       400,
		"http://u:p@hooks.internal/x": 400,
	} {
		resp, b := post(t, a.ts.URL+"/v1/clips", fmt.Sprintf(`{"stream":"live/cam","start":%d,"end":%d,"webhook_url":%q}`, t0.Unix()+1, t0.Unix()+5, hook))
		if resp.StatusCode != want {
			t.Errorf("%s: %d %s, want %d", hook, resp.StatusCode, b, want)
		}
	}
	if ids := queued(t, q); len(ids) != 2 {
		t.Errorf("queued %v, want the 2 allowed", ids)
	}
}
