package main

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/evstream/evstream/daemon"
	"github.com/evstream/evstream/internal/tlsfiles"
	"github.com/evstream/evstream/jsonrpc"
	"github.com/evstream/evstream/mi"
)

// defaultMIURL is where `evstream serve` listens by default.
const defaultMIURL = "http://127.0.0.1:8888/mi"

// maxMIResponse bounds the response read from the MI.
const maxMIResponse = 64 << 20

// miFlags are the flags of `evstream mi`.
type miFlags struct {
	url      string
	timeout  durationValue
	token    string // --token, else EVSTREAM_MI_TOKEN
	user     string // --user
	password string // --password, else EVSTREAM_MI_PASSWORD
	ca       string // --ca: the CA that signed an https MI's certificate
}

// Environment variables that hold the MI's credentials for `evstream mi`
// (safer than flags, which other users see in the process list).
const (
	envMIToken    = "EVSTREAM_MI_TOKEN"
	envMIPassword = "EVSTREAM_MI_PASSWORD"
)

func newMICmd() *cobra.Command {
	f := &miFlags{url: defaultMIURL, timeout: durationValue(10 * time.Second)}
	cmd := &cobra.Command{
		Use:   "mi COMMAND [ARG...]",
		Short: "call a running daemon's MI (like opensips-cli -x mi)",
		Long: `Call a command of a running daemon's MI and print its result as indented JSON.

Args are sent as params by position, each as a JSON string, except that an
arg holding a JSON object or array ({"ip":"10.0.0.1"}, [1,2]) is sent as
that JSON. When every arg is NAME=VALUE (NAME: lowercase letters, digits,
'_') they are sent by name instead. An arg that starts with '-' goes after
'--'. Flags may come anywhere.

  evstream mi event_subscribe E_PIKE_BLOCKED tcp:127.0.0.1:8080/block_ip 3600
  evstream mi raise_event E_PIKE_BLOCKED '{"ip":"192.168.2.11"}'
  evstream mi subscribers_list event=E_PIKE_BLOCKED
  evstream mi help                     the MI commands
  evstream mi help event_subscribe     one command's params

An MI that asks for credentials (mi.auth_token, mi.basic_auth) gets the
token from --token or $EVSTREAM_MI_TOKEN, or --user with --password or
$EVSTREAM_MI_PASSWORD; prefer the environment: flags show in ps.

An MI error prints "error CODE: MESSAGE[: DATA]" and exits 1, as does a
daemon that cannot be reached; bad usage exits 2.`,
		// Its own flag parsing: flags anywhere, and MI args such as a
		// negative number (-5) are args, not unknown shorthand flags.
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			args, help, err := parseMIArgs(cmd.Flags(), args)
			switch {
			case err != nil:
				return usageError(cmd, "%v", err)
			case help:
				return cmd.Help()
			}
			return runMI(cmd, f, args)
		},
	}
	cmd.Flags().StringVar(&f.url, "url", defaultMIURL, "the daemon's MI `URL`")
	cmd.Flags().Var(&f.timeout, "timeout", "how long to wait for the answer")
	cmd.Flags().StringVar(&f.token, "token", "", "the MI's auth token (default $"+envMIToken+")")
	cmd.Flags().StringVar(&f.user, "user", "", "the MI's Basic auth user name")
	cmd.Flags().StringVar(&f.password, "password", "", "the MI's Basic auth password (default $"+envMIPassword+")")
	cmd.Flags().StringVar(&f.ca, "ca", "", "PEM `file` of the CA that signed an https:// MI's certificate (default: the system's roots)")
	return cmd
}

// parseMIArgs sets the flags found anywhere in args (--name value,
// --name=value; -h and --help ask for help) and returns the other args,
// in order: the MI command and its args. After "--" everything is an arg.
// A word that starts with one '-' is an arg (-5 is a negative expire); one
// that starts with "--" must be a known flag.
func parseMIArgs(fs *pflag.FlagSet, args []string) (rest []string, help bool, err error) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return append(rest, args[i+1:]...), help, nil
		case a == "-h" || a == "--help":
			help = true
			continue
		case !strings.HasPrefix(a, "--"):
			rest = append(rest, a)
			continue
		}
		name, value, hasValue := strings.Cut(a[2:], "=")
		fl := fs.Lookup(name)
		if fl == nil {
			return nil, false, fmt.Errorf("unknown flag --%s (an MI arg that starts with '--' goes after '--')", name)
		}
		if !hasValue {
			if i+1 == len(args) {
				return nil, false, fmt.Errorf("flag --%s needs a value", name)
			}
			i++
			value = args[i]
		}
		if err := fs.Set(name, value); err != nil {
			return nil, false, err
		}
	}
	return rest, help, nil
}

// runMI is `evstream mi [--url URL] [--timeout D] COMMAND [ARG...]`.
func runMI(cmd *cobra.Command, f *miFlags, args []string) error {
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	if len(args) == 0 {
		return usageError(cmd, "missing COMMAND (evstream mi help lists them)")
	}
	if args[0] == "help" {
		return miHelp(cmd, args[1:])
	}
	if err := checkMIURL(f.url); err != nil {
		return usageError(cmd, "%v", err)
	}
	method := args[0]
	body, err := miRequestBody(method, args[1:])
	if err != nil {
		return usageError(cmd, "%v", err)
	}
	ctx, cancel := interruptible(cmd)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, time.Duration(f.timeout))
	defer cancelTimeout()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.url, bytes.NewReader(body))
	if err != nil {
		return usageError(cmd, "--url %q: %v", f.url, err)
	}
	req.Header.Set("Content-Type", "application/json")
	f.authorize(req)
	client, err := f.client()
	if err != nil {
		return usageError(cmd, "%v", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return failure(cmd, "cannot reach the MI at %s: %v (is `evstream serve` running there?)", f.url, unwrapURLError(err))
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxMIResponse))
	if err != nil {
		return failure(cmd, "reading the answer from %s: %v", f.url, err)
	}
	m, perr := jsonrpc.Parse(raw)
	isResponse := perr == nil && (m.Result != nil || m.Error != nil)
	if resp.StatusCode != http.StatusOK && !(isResponse && m.Error != nil) {
		return failure(cmd, "%s answered HTTP %s: %.200s", f.url, resp.Status, bytes.TrimSpace(raw))
	}
	if !isResponse {
		return failure(cmd, "%s answered something that is not a JSON-RPC response: %.200s", f.url, raw)
	}
	if m.Error != nil {
		fmt.Fprintln(stderr, formatMIError(m.Error))
		if m.Error.Code == http.StatusUnauthorized {
			fmt.Fprintf(stderr, "the MI asks for credentials: set $%s (or --token), or --user and $%s\n", envMIToken, envMIPassword)
		}
		if m.Error.Code == jsonrpc.CodeInvalidParams && string(m.Error.Data) == `"`+mi.MsgTooFewOrMany+`"` {
			if c, ok := daemon.LookupCommand(method); ok {
				fmt.Fprintf(stderr, "usage: evstream mi %s\n", c.Usage())
			}
		}
		return exitWith(exitFailure)
	}
	var out bytes.Buffer
	if err := json.Indent(&out, m.Result, "", "  "); err != nil {
		out.Reset()
		out.Write(m.Result)
	}
	out.WriteByte('\n')
	stdout.Write(out.Bytes())
	return nil
}

// client returns the HTTP client for the MI: with --ca, one that trusts
// that CA alone.
func (f *miFlags) client() (*http.Client, error) {
	if f.ca == "" {
		return http.DefaultClient, nil
	}
	pool, err := tlsfiles.Pool(f.ca, "--ca")
	if err != nil {
		return nil, err
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}, nil
}

// authorize adds the credentials given (flags, else environment).
func (f *miFlags) authorize(req *http.Request) {
	token := cmp.Or(f.token, os.Getenv(envMIToken))
	switch {
	case f.user != "":
		req.SetBasicAuth(f.user, cmp.Or(f.password, os.Getenv(envMIPassword)))
	case token != "":
		req.Header.Set("Authorization", "Bearer "+token)
	}
}

// miHelp is `evstream mi help [COMMAND]`: what the MI commands are, from
// the MI's own table, without a running daemon.
func miHelp(cmd *cobra.Command, args []string) error {
	w := cmd.OutOrStdout()
	switch len(args) {
	case 0:
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "MI commands (evstream mi help COMMAND for its params):")
		for _, c := range daemon.CommandInfos() {
			ext := ""
			if c.Extension {
				ext = " (evstream extension)"
			}
			fmt.Fprintf(tw, "  %s\t%s%s\n", c.Usage(), c.Summary, ext)
		}
		return tw.Flush()
	case 1:
		c, ok := daemon.LookupCommand(args[0])
		if !ok {
			return usageError(cmd, "no MI command %q%s (evstream mi help lists them)", args[0], suggestMI(args[0]))
		}
		fmt.Fprintf(w, "usage: evstream mi %s\n\n%s.\n", c.Usage(), c.Summary)
		if p := c.Params[len(c.Params)-1]; len(p) > 0 {
			fmt.Fprintln(w, "\nparams (by position, or by name: NAME=VALUE):")
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			for _, name := range p {
				fmt.Fprintf(tw, "  %s\t%s\n", name, mi.ParamHelp(name))
			}
			tw.Flush()
		}
		return nil
	}
	return usageError(cmd, "help takes one COMMAND at most")
}

// suggestMI returns `: did you mean "X"?` for the MI command nearest to
// name, or "".
func suggestMI(name string) string {
	best, bestD := "", 3
	for _, c := range daemon.CommandInfos() {
		if d := levenshtein(name, c.Name); d < bestD {
			best, bestD = c.Name, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(": did you mean %q?", best)
}

// levenshtein is the edit distance between a and b.
func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// namedArg matches NAME=VALUE args.
var namedArg = regexp.MustCompile(`^([a-z_][a-z0-9_]*)=(.*)$`)

// miRequestBody builds the JSON-RPC request for method with the command
// line args (see runMI for how they become params).
func miRequestBody(method string, args []string) ([]byte, error) {
	var params []byte
	if len(args) > 0 {
		named := true
		for _, a := range args {
			named = named && namedArg.MatchString(a)
		}
		if named {
			params = append(params, '{')
			seen := map[string]bool{}
			for i, a := range args {
				m := namedArg.FindStringSubmatch(a)
				if seen[m[1]] {
					return nil, fmt.Errorf("param %q given twice", m[1])
				}
				seen[m[1]] = true
				if i > 0 {
					params = append(params, ',')
				}
				params = jsonrpc.AppendString(params, m[1])
				params = append(params, ':')
				params = appendArg(params, m[2])
			}
			params = append(params, '}')
		} else {
			params = append(params, '[')
			for i, a := range args {
				if i > 0 {
					params = append(params, ',')
				}
				params = appendArg(params, a)
			}
			params = append(params, ']')
		}
	}
	b := []byte(`{"jsonrpc":"2.0","method":`)
	b = jsonrpc.AppendString(b, method)
	if params != nil {
		b = append(b, `,"params":`...)
		b = append(b, params...)
	}
	return append(b, `,"id":1}`...), nil
}

// appendArg appends one arg as a param value: the JSON itself when it is
// a JSON object or array, else a JSON string.
func appendArg(dst []byte, a string) []byte {
	if t := strings.TrimSpace(a); t != "" && (t[0] == '{' || t[0] == '[') && json.Valid([]byte(t)) {
		var buf bytes.Buffer
		if json.Compact(&buf, []byte(t)) == nil {
			return append(dst, buf.Bytes()...)
		}
	}
	return jsonrpc.AppendString(dst, a)
}

// formatMIError formats an MI error as "error CODE: MESSAGE", followed by
// ": DATA" when it has data (unquoted when it is a string).
func formatMIError(e *jsonrpc.Error) string {
	s := fmt.Sprintf("error %d: %s", e.Code, e.Message)
	if len(e.Data) > 0 {
		var str string
		if json.Unmarshal(e.Data, &str) == nil {
			return s + ": " + str
		}
		return s + ": " + string(e.Data)
	}
	return s
}

// unwrapURLError drops the "Post URL:" prefix of an *url.Error (the URL is
// already in the message).
func unwrapURLError(err error) error {
	if u := errors.Unwrap(err); u != nil {
		return u
	}
	return err
}
