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

func (s fileState) same(o fileState) bool {
	return s.fi.Size() == o.fi.Size() && s.fi.ModTime().Equal(o.fi.ModTime())
}

func (s fileState) regular() bool { return s.fi.Mode().IsRegular() }

func (s fileState) size() int64 { return s.fi.Size() }

func (s fileState) modTime() time.Time { return s.fi.ModTime() }
