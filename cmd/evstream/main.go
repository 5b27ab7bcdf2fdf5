package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1 // the command ran and failed (cannot start, cannot reach...)
	exitUsage   = 2 // bad command line
)

// exitError is an error with the exit code it causes. Commands return one
// (usageError, failure) to choose the code; the message is printed as
// "evstream CMD: MESSAGE".
type exitError struct {
	code int
	cmd  string // the command's path, "evstream serve"
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// usageError is a bad command line: exit code 2, and a pointer to --help.
func usageError(cmd *cobra.Command, format string, args ...any) error {
	return &exitError{code: exitUsage, cmd: cmd.CommandPath(), msg: fmt.Sprintf(format, args...)}
}

// failure is a command that could not do its job: exit code 1.
func failure(cmd *cobra.Command, format string, args ...any) error {
	return &exitError{code: exitFailure, cmd: cmd.CommandPath(), msg: fmt.Sprintf(format, args...)}
}

// exitWith ends a command with code and no message (the command printed
// what it had to say).
type exitWith int

func (e exitWith) Error() string { return fmt.Sprintf("exit %d", int(e)) }

// newRoot builds the evstream command and its subcommands, writing to
// stdout and stderr.
func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "evstream",
		Short: "OpenSIPS event_stream, in Go: deliver events as JSON-RPC over TCP",
		Long: `evstream delivers events to applications as JSON-RPC 2.0 written straight
onto TCP connections: the OpenSIPS Event Interface and its event_stream
transport. Run the daemon with 'evstream serve', manage it with 'evstream mi'.`,
		Version:       versionString(),
		SilenceErrors: true,
		SilenceUsage:  true,
		// Bare "evstream": the help, but as a usage error.
		RunE: func(cmd *cobra.Command, args []string) error {
			cmd.SetOut(cmd.ErrOrStderr())
			cmd.Help()
			return exitWith(exitUsage)
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetVersionTemplate("evstream {{.Version}}\n")
	root.SetFlagErrorFunc(flagError)
	root.SuggestionsMinimumDistance = 2
	root.CompletionOptions.DisableDefaultCmd = true
	root.AddCommand(newServeCmd(), newMICmd(), newListenCmd(), newBenchCmd(), newVersionCmd())
	return root
}

// flagError turns a flag parsing error into a usage error that says what
// was expected.
func flagError(cmd *cobra.Command, err error) error {
	msg := err.Error()
	if strings.HasPrefix(msg, "unknown shorthand flag") {
		msg += " (an argument that starts with '-' goes after '--': evstream " + cmd.Name() + " ... -- -1)"
	}
	return usageError(cmd, "%s", msg)
}

// run runs the command line args and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var code exitWith
	if errors.As(err, &code) {
		return int(code)
	}
	var ee *exitError
	if errors.As(err, &ee) {
		for _, line := range strings.Split(ee.msg, "\n") {
			fmt.Fprintf(stderr, "%s: %s\n", ee.cmd, line)
		}
		if ee.code == exitUsage {
			fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", ee.cmd)
		}
		return ee.code
	}
	// cobra's own: an unknown command (with suggestions), a bad argument.
	fmt.Fprintf(stderr, "evstream: %s\n", strings.TrimRight(err.Error(), "\n"))
	fmt.Fprintln(stderr, "Run 'evstream --help' for usage.")
	return exitUsage
}

// interruptible returns cmd's context, cancelled on SIGINT or SIGTERM.
func interruptible(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
}

// noArgs refuses positional arguments with a clear error.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageError(cmd, "unexpected argument %q", args[0])
	}
	return nil
}
