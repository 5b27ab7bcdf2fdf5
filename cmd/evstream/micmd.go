package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/evstream/evstream/jsonrpc"
)

// defaultMIURL is where `evstream serve` listens by default.
const defaultMIURL = "http://127.0.0.1:8888/mi"

// maxMIResponse bounds the response read from the MI.
const maxMIResponse = 64 << 20

func init() {
	register("mi", command{
		summary: "call a running daemon's MI (like opensips-cli -x mi)",
		run:     runMI,
	})
}

// runMI is `evstream mi [--url URL] [--timeout D] CMD [ARGS...]`.
//
// Args are sent as params by position, each as a JSON string, except that
// an arg holding a JSON object or array ({"ip":"10.0.0.1"}, [1,2]) is sent
// as that JSON. When every arg has the form NAME=VALUE (NAME: lowercase
// letters, digits, '_') they are sent by name instead, with the same rule
// for VALUE.
//
// The result is printed as indented JSON. An MI error prints
// "error CODE: MESSAGE[: DATA]" to stderr and exits 1, as does a daemon
// that cannot be reached; bad usage exits 2.
func runMI(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mi", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", defaultMIURL, "the daemon's MI `URL`")
	timeout := fs.Duration("timeout", 10*time.Second, "how long to wait for the answer")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: evstream mi [--url URL] [--timeout D] COMMAND [ARG...]")
		fmt.Fprintln(stderr, "       evstream mi [--url URL] COMMAND NAME=VALUE...")
		fmt.Fprintln(stderr, "example: evstream mi event_subscribe E_PIKE_BLOCKED tcp:127.0.0.1:8080/block_ip 3600")
		fmt.Fprintln(stderr, "         evstream mi raise_event E_PIKE_BLOCKED '{\"ip\":\"192.168.2.11\"}'")
		fmt.Fprintln(stderr, "         evstream mi which")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "evstream mi: missing COMMAND")
		fs.Usage()
		return 2
	}
	method := fs.Arg(0)
	body, err := miRequestBody(method, fs.Args()[1:])
	if err != nil {
		fmt.Fprintf(stderr, "evstream mi: %v\n", err)
		return 2
	}

	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, *url, bytes.NewReader(body))
	if err != nil {
		fmt.Fprintf(stderr, "evstream mi: bad --url %q: %v\n", *url, err)
		return 2
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "evstream mi: cannot reach the MI at %s: %v (is `evstream serve` running there?)\n", *url, unwrapURLError(err))
		return 1
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxMIResponse))
	if err != nil {
		fmt.Fprintf(stderr, "evstream mi: reading the answer from %s: %v\n", *url, err)
		return 1
	}
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "evstream mi: %s answered HTTP %s: %s\n", *url, resp.Status, bytes.TrimSpace(raw))
		return 1
	}
	m, err := jsonrpc.Parse(raw)
	if err != nil || (m.Result == nil && m.Error == nil) {
		fmt.Fprintf(stderr, "evstream mi: %s answered something that is not a JSON-RPC response: %.200s\n", *url, raw)
		return 1
	}
	if m.Error != nil {
		fmt.Fprintln(stderr, formatMIError(m.Error))
		return 1
	}
	var out bytes.Buffer
	if err := json.Indent(&out, m.Result, "", "  "); err != nil {
		out.Reset()
		out.Write(m.Result)
	}
	out.WriteByte('\n')
	stdout.Write(out.Bytes())
	return 0
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
