//go:build unix

package tokenkeeper

import (
	"io/fs"
	"os"
	"syscall"
)

// ownedByOther reports whether fi is a file that another user owns.
func ownedByOther(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) != os.Geteuid()
}
