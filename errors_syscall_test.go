//go:build !plan9

package tokenkeeper

import (
	"fmt"
	"net/url"
	"os"
	"syscall"
	"testing"
)

// The system errors of a lost connection are temporary wherever they sit
// in the chain, with or without a *net.OpError around them.
func TestIsRetryableErrno(t *testing.T) {
	t.Parallel()
	for _, errno := range []syscall.Errno{syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.ECONNABORTED, syscall.EPIPE} {
		for name, err := range map[string]error{
			"bare":              errno,
			"syscall error":     os.NewSyscallError("write", errno),
			"wrapped url.Error": &url.Error{Op: "Post", URL: "https://a/t", Err: fmt.Errorf("net/http: connection broken: %w", os.NewSyscallError("read", errno))},
		} {
			if !IsRetryable(err) {
				t.Errorf("IsRetryable(%q) (%s) = false; want true", err, name)
			}
		}
	}
	if IsRetryable(syscall.EACCES) {
		t.Errorf("IsRetryable(%q) = true; want false", syscall.EACCES)
	}
}
