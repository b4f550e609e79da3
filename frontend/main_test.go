package frontend_test

import (
	"testing"

	"email-alert/internal/testrig"
)

func TestMain(m *testing.M) { testrig.Main(m) }
