package staticfiles

import (
	"os"
	"syscall"
	"time"
)

// openFlags keeps a FIFO swapped in after the stat from blocking the open,
// and opens files of 2 GiB or more on 32-bit Linux: os.Root's OpenFile,
// unlike os.Open, does not add O_LARGEFILE itself, and without it the
// kernel refuses such a file (EOVERFLOW). It is 0 on 64-bit platforms,
// where the kernel implies it.
const openFlags = syscall.O_NONBLOCK | syscall.O_LARGEFILE

// fileState is what fstat says of an open file. On Linux it is read
// without allocating, and it also catches a file deleted or replaced by a
// rename (its link count drops to 0) and a content change that kept the
// modification time (the change time moves).
type fileState struct {
	st syscall.Stat_t
}

func fileFd(f *os.File) uintptr { return f.Fd() }

func fstat(_ *os.File, fd uintptr) (fileState, error) {
	var s fileState
	err := syscall.Fstat(int(fd), &s.st)
	return s, err
}

// fileID identifies a version of a file's content.
type fileID struct {
	dev, ino     uint64
	size         int64
	mtime, ctime syscall.Timespec
}

func (s fileState) id() fileID {
	return fileID{uint64(s.st.Dev), uint64(s.st.Ino), s.st.Size, s.st.Mtim, s.st.Ctim}
}

// same reports whether s, read later, still describes the file o did.
func (s fileState) same(o fileState) bool { return s.st.Nlink > 0 && s.id() == o.id() }

func (s fileState) regular() bool { return s.st.Mode&syscall.S_IFMT == syscall.S_IFREG }

func (s fileState) size() int64 { return s.st.Size }

func (s fileState) modTime() time.Time { return time.Unix(s.st.Mtim.Unix()) }
