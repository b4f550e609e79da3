package jsonapi

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// The one rule for bad input on every JSON endpoint:
//   - a body that is not one JSON object of the right shape (malformed,
//     not an object, a field of the wrong type) is a 400 (Decode);
//   - a body that lacks a required field (absent, or null) is a 400 naming
//     every missing field (Require, AbortMissing);
//   - a field that is present but whose value is not valid (an empty or
//     malformed address, an unknown frequency, a control character) is a
//     422 naming every such field.
//
// A handler checks for missing fields first, so a request with both
// answers 400. The one exception is POST /subscriptions/auth-token, whose
// contract (email-alert-api's) answers missing and invalid fields alike
// with 422.

// MissingMessage is the error of a request that lacks a required field.
const MissingMessage = "Missing parameters"

// The field messages every endpoint shares, written once.
const (
	IsRequired = "is required"    // the field is absent or null
	NotUUID    = "must be a UUID" // the field is not a UUID
)

// Require reports whether every field of present is true; otherwise it
// answers 400 with each missing field "is required" in details.
func Require(c *gin.Context, present map[string]bool) bool {
	missing := Details{}
	for field, ok := range present {
		if !ok {
			missing[field] = []string{IsRequired}
		}
	}
	if len(missing) == 0 {
		return true
	}
	AbortMissing(c, missing)
	return false
}

// AbortMissing answers 400 with the missing fields in details.
func AbortMissing(c *gin.Context, missing Details) {
	Abort(c, http.StatusBadRequest, MissingMessage, missing)
}
