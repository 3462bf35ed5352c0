package tokenkeeper

// This file is the Plan 9 counterpart of errors_syscall.go.

// connectionErrno reports false: Plan 9 reports network failures as
// strings, and IsRetryable recognizes them as *net.OpError instead.
func connectionErrno(error) bool { return false }
