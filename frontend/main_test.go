package frontend_test

import (
	"testing"

	"email-alert/internal/testkit/testrig"
)

func TestMain(m *testing.M) { testrig.Main(m) }
