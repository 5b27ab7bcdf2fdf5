package delivery_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no goroutine outlives the tests: every queue's
// goroutine ends when its registry and engine are closed.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
