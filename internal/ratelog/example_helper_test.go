package ratelog_test

import "os"

// osStdout writes to the current os.Stdout (which the example runner
// replaces to capture the output).
type osStdout struct{}

func (osStdout) Write(p []byte) (int, error) { return os.Stdout.Write(p) }
