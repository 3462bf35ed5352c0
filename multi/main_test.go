package multi

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if any test leaves a goroutine behind: a closed
// or evicted credential must stop all of its work.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
