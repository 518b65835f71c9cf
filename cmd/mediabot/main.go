// Command mediabot runs the bot (serve), a local demonstration call (demo),
// a client of a running bot's operator API that places calls (join), or a
// consumer of the bot's NATS stream (tap). Every flag also reads an
// environment variable: --media-port is MEDIABOT_MEDIA_PORT.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
)

const usage = `usage: mediabot <command> [flags]

commands:
  serve   run the bot: Graph webhook, media answer endpoint, health probes
  demo    run the bot and the local Graph emulator together on loopback,
          play one simulated Teams call, write recordings, print a summary
  join    ask a running bot to join a meeting or call a user or phone
          number (its operator API); prints the call id
  tap     follow the bot's NATS JetStream stream: live per-speaker levels,
          or --write DIR to rebuild the WAVs and events of every call

Run 'mediabot <command> -h' for the flags of a command.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(os.Args[2:])
	case "demo":
		err = runDemo(os.Args[2:])
	case "join":
		err = runJoin(os.Args[2:])
	case "tap":
		err = runTap(os.Args[2:])
	case "-h", "--help", "help":
		fmt.Print(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "mediabot: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		// The library's errors name their package already: one prefix.
		fmt.Fprintln(os.Stderr, "mediabot:", strings.TrimPrefix(err.Error(), "mediabot: "))
		os.Exit(1)
	}
}
