//go:build !unix

package tokenkeeper

import "io/fs"

// ownedByOther reports false: ownership is not checked on this platform
// (on Windows, the file's ACL decides who may read it).
func ownedByOther(fs.FileInfo) bool { return false }
