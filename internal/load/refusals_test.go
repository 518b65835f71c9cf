package load

import (
	"github.com/mediabot-dev/mediabot/internal/lockedbuf"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A surge of refusals is one line with its call, then one line a second
// with the count; every refusal is counted, the last ones at Close.
func TestRefusalsAreLoggedOnceASecond(t *testing.T) {
	var out lockedbuf.Buffer
	r := NewRefusals(slog.New(slog.NewTextHandler(&out, nil)))
	const surge = 500
	start := time.Now()
	for i := range surge {
		r.Refused("call-"+string(rune('a'+i%26)), "admission: full")
		time.Sleep(3 * time.Millisecond) // 1.5 s or more of refusals
	}
	elapsed := time.Since(start)
	r.Close()
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if !strings.Contains(lines[0], `msg="incoming call refused: overloaded" call=call-a`) {
		t.Errorf("first line %q does not name the call", lines[0])
	}
	counted := 1
	for _, l := range lines[1:] {
		_, rest, ok := strings.Cut(l, " calls=")
		n, err := strconv.Atoi(strings.Fields(rest + " ")[0])
		if !ok || err != nil || !strings.Contains(l, `reason="admission: full"`) {
			t.Fatalf("line %q: no count and reason", l)
		}
		counted += n
	}
	if counted != surge {
		t.Errorf("lines count %d refusals, want %d:\n%s", counted, surge, strings.Join(lines, "\n"))
	}
	if most := 2 + int(elapsed/refusalEvery); len(lines) > most {
		t.Errorf("%d lines for %v of refusals, want at most %d", len(lines), elapsed, most)
	}
}
