//go:build !linux

package staticfiles

import (
	"os"
	"time"
)

// openFlags are the extra flags files are opened with.
const openFlags = 0

// fileState is what Stat says of an open file: its size and modification
// time. A file deleted or replaced by a rename is noticed when its path is
// checked, every CheckInterval.
type fileState struct {
	fi os.FileInfo
}

func fileFd(*os.File) uintptr { return 0 }

func fstat(f *os.File, _ uintptr) (fileState, error) {
	fi, err := f.Stat()
	return fileState{fi}, err
}

// fileID identifies a version of a file's content.
type fileID struct {
	size, mtime int64
}

func (s fileState) id() fileID { return fileID{s.fi.Size(), s.fi.ModTime().UnixNano()} }

// same reports whether s, read later, still describes the file o did.
func (s fileState) same(o fileState) bool { return s.id() == o.id() }

func (s fileState) regular() bool { return s.fi.Mode().IsRegular() }

func (s fileState) size() int64 { return s.fi.Size() }

func (s fileState) modTime() time.Time { return s.fi.ModTime() }
