package crash

import (
	"os"
	"testing"

	"github.com/sluicehq/sluice/integration/kafkatest"
)

func TestMain(m *testing.M) {
	kafkatest.RunBroker() // in the broker process a fleet test starts, this is all it does
	os.Exit(m.Run())
}
