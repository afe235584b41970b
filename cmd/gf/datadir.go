package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/gigafactory/gigafactory/internal/store"
)

// lockFile is the data directory's lock (lockDataDir); it holds the pid
// of the server that has it.
const lockFile = "gf.lock"

// privateFiles are the files of a data directory that only the server's
// user may read: the database and its WAL, the administrator's token,
// the server's address, the lock and the key that signs audit checkpoints.
var privateFiles = []string{"gf.db", "gf.db-wal", "gf.db-shm", adminTokenFile, addrFile, lockFile, store.AuditKeyFile}

// secureDataDir makes the data directory private before the server opens
// anything in it: the process's umask becomes 077 (so every file it
// creates from now on, job outputs included, is its user's alone), the
// directory is created or tightened to 0700, and the files in
// privateFiles that exist already are tightened to 0600.
func secureDataDir(dir string) error {
	setPrivateUmask()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	for _, name := range privateFiles {
		p := filepath.Join(dir, name)
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("data directory: %w", err)
		}
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("data directory: %s is not a regular file (%s)", p, fi.Mode().Type())
		}
		if fi.Mode().Perm() != 0o600 {
			if err := os.Chmod(p, 0o600); err != nil {
				return fmt.Errorf("data directory: %w", err)
			}
		}
	}
	return nil
}
