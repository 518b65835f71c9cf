// Package cli is what the project's commands share: flags that also read
// an environment variable, and signal handling.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// Flags is a flag set whose every flag also reads PREFIX_NAME from the
// environment (--media-port reads MEDIABOT_MEDIA_PORT); a flag given on the
// command line wins over the environment.
type Flags struct {
	*flag.FlagSet
	prefix string
	errs   []error
}

// NewFlags makes a flag set for command name with the environment prefix.
// Parse prints nothing itself: Usage (for -h) and the caller's one line
// (for a mistake) do.
func NewFlags(name, prefix string) *Flags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return &Flags{FlagSet: fs, prefix: prefix}
}

// Usage writes the command's flags, each with its environment variable
// and default (never a secret's value), to w.
func (f *Flags) Usage(w io.Writer) {
	fmt.Fprintf(w, "usage: %s [flags]\n\nEvery flag also reads its environment variable; a flag given wins.\n\n", f.Name())
	f.SetOutput(w)
	f.PrintDefaults()
	f.SetOutput(io.Discard)
}

// EnvName is the environment variable of a flag.
func (f *Flags) EnvName(flagName string) string {
	return f.prefix + "_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func (f *Flags) env(name string) (string, bool) {
	return os.LookupEnv(f.EnvName(name))
}

func (f *Flags) usage(name, usage string) string {
	return usage + " (env " + f.EnvName(name) + ")"
}

// String defines a string flag.
func (f *Flags) String(p *string, name, def, usage string) {
	if v, ok := f.env(name); ok {
		def = v
	}
	f.StringVar(p, name, def, f.usage(name, usage))
}

// Int defines an int flag.
func (f *Flags) Int(p *int, name string, def int, usage string) {
	if v, ok := f.env(name); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			f.errs = append(f.errs, fmt.Errorf("%s=%q: not an integer", f.EnvName(name), v))
		} else {
			def = n
		}
	}
	f.IntVar(p, name, def, f.usage(name, usage))
}

// Bool defines a bool flag.
func (f *Flags) Bool(p *bool, name string, def bool, usage string) {
	if v, ok := f.env(name); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			f.errs = append(f.errs, fmt.Errorf("%s=%q: not a boolean", f.EnvName(name), v))
		} else {
			def = b
		}
	}
	f.BoolVar(p, name, def, f.usage(name, usage))
}

// Duration defines a duration flag.
func (f *Flags) Duration(p *time.Duration, name string, def time.Duration, usage string) {
	if v, ok := f.env(name); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			f.errs = append(f.errs, fmt.Errorf("%s=%q: not a duration", f.EnvName(name), v))
		} else {
			def = d
		}
	}
	f.DurationVar(p, name, def, f.usage(name, usage))
}

// List defines a comma-separated list flag.
func (f *Flags) List(p *[]string, name string, def []string, usage string) {
	*p = def
	if v, ok := f.env(name); ok {
		*p = splitList(v)
	}
	f.Func(name, f.usage(name, usage+" (comma-separated)"), func(s string) error {
		*p = splitList(s)
		return nil
	})
}

// Secret defines a string flag whose value is never shown: the usage text
// says only whether its environment variable set it.
func (f *Flags) Secret(p *string, name, usage string) {
	v, ok := f.env(name)
	if ok {
		usage += " (set by " + f.EnvName(name) + ")"
	} else {
		usage = f.usage(name, usage)
	}
	*p = v
	f.Var((*secret)(p), name, usage)
}

// secret is a flag.Value that does not print itself.
type secret string

func (s *secret) Set(v string) error { *s = secret(v); return nil }
func (s *secret) String() string     { return "" }

// Parse parses args; a bad environment value is an error too. On -h it
// prints the usage to stdout and returns flag.ErrHelp; a mistake is one
// error that says how to get help.
func (f *Flags) Parse(args []string) error {
	if err := f.FlagSet.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			f.Usage(os.Stdout)
			return err
		}
		return fmt.Errorf("%w (see '%s -h')", err, f.Name())
	}
	if len(f.errs) > 0 {
		return f.errs[0]
	}
	if f.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (see '%s -h')", f.Arg(0), f.Name())
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}
