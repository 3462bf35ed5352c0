//go:build !plan9

package tokenkeeper

import (
	"errors"
	"syscall"
)

// This file holds the part of the error classification (errors.go) that
// needs the system error numbers, which Plan 9 does not have.

// connectionErrno reports whether err holds the system error of a
// connection refused, reset or aborted, or of a broken pipe.
func connectionErrno(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.EPIPE)
}
