//go:build !unix

package memberships

import (
	"errors"
	"io"
	"os"
	"time"
)

// Elsewhere than on Unix, file owners cannot be checked, so every entry
// is untrusted, and the authorizer's socket cannot be reached.

func readEntry(path string, max int) ([]byte, fileMeta, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fileMeta{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fileMeta{}, err
	}
	data, err := io.ReadAll(io.LimitReader(f, int64(max)))
	return data, fileMeta{regular: fi.Mode().IsRegular(), perm: fi.Mode().Perm()}, err
}

func statMeta(path string) (fileMeta, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileMeta{}, err
	}
	return fileMeta{regular: fi.Mode().IsRegular(), perm: fi.Mode().Perm()}, nil
}

func dialUnix(string, time.Duration) (*os.File, error) {
	return nil, errors.New("the authorizer's socket needs a Unix system")
}
