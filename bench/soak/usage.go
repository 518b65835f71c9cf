package main

import (
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"time"

	"github.com/mediabot-dev/mediabot"
	"github.com/mediabot-dev/mediabot/internal/procstat"
)

// usage is what the soak watches of its own process, which holds the bot
// and graphsim: what a leak would make grow.
type usage struct {
	goroutines int
	// heap is the live heap: after a forced collection at the baseline and
	// the end, as the last collection found it in between.
	heap     float64
	rss      float64
	fds      int
	outFiles []string // files open under the out-dir
	held     int      // calls the bot holds, live or closing (Bot.Calls)
	streams  float64  // streams the bot decodes (mediabot_streams_active), when scraped
}

// watcher measures the process.
type watcher struct {
	bot    *mediabot.Bot
	outDir string // as /proc/self/fd links name it
}

func newWatcher(bot *mediabot.Bot, outDir string) (*watcher, error) {
	dir, err := filepath.EvalSymlinks(outDir)
	if err != nil {
		return nil, err
	}
	return &watcher{bot: bot, outDir: dir}, nil
}

// measure reads the process now; collected first forces two garbage
// collections (what a finalizer or a sync.Pool's victim cache kept through
// the first is gone after the second) and hands the freed memory back to
// the kernel, so that the heap and the RSS count what is live.
func (w *watcher) measure(collected bool) usage {
	if collected {
		runtime.GC()
		debug.FreeOSMemory()
	}
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(sample)
	u := usage{goroutines: runtime.NumGoroutine(), heap: float64(sample[0].Value.Uint64()), held: len(w.bot.Calls())}
	u.rss, _ = procstat.RSSBytes(os.Getpid())
	files, _ := procstat.OpenFiles(os.Getpid())
	u.fds = len(files)
	for _, f := range files {
		if strings.HasPrefix(f, w.outDir+"/") {
			u.outFiles = append(u.outFiles, f)
		}
	}
	return u
}

// settleTimeout bounds the wait for the process to come back to its
// baseline once the bot holds no call.
const settleTimeout = 30 * time.Second

// settle waits, settleTimeout at most, until the process reads as done
// wants, and returns it measured after a collection, and how long the wait
// took. The pooled keep-alive connections between the bot and graphsim
// are closed first: the transport keeps two idle ones per host for 90 s,
// a bounded amount that would only blur the count.
func (w *watcher) settle(scraper *http.Client, done func(usage) bool) (usage, time.Duration) {
	start := time.Now()
	http.DefaultTransport.(*http.Transport).CloseIdleConnections() // the bot's and graphsim's clients
	scraper.CloseIdleConnections()
	for time.Since(start) < settleTimeout && !done(w.measure(false)) {
		time.Sleep(250 * time.Millisecond)
	}
	return w.measure(true), time.Since(start)
}

// unchanged is a settle condition: the goroutines and files read the same
// twice in a row, a quarter of a second apart.
func unchanged() func(usage) bool {
	var prev *usage
	return func(u usage) bool {
		same := prev != nil && prev.goroutines == u.goroutines && prev.fds == u.fds
		prev = &u
		return same
	}
}

// raise keeps the higher of each quantity of u and o.
func (u *usage) raise(o usage) {
	u.goroutines = max(u.goroutines, o.goroutines)
	u.heap = max(u.heap, o.heap)
	u.rss = max(u.rss, o.rss)
	u.fds = max(u.fds, o.fds)
	if len(o.outFiles) > len(u.outFiles) {
		u.outFiles = o.outFiles
	}
	u.held = max(u.held, o.held)
	u.streams = max(u.streams, o.streams)
}
