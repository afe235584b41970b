package jobpath

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// The run-time half. Every path is opened relative to a directory file
// descriptor (the job's directory, its working directory or an allowed
// root) and may not leave it, nor pass through a symbolic link of any kind.
// Symlinks are refused rather than resolved and re-checked: whoever can
// write a directory can swap a link between a check and a use, and only a
// resolution done by the kernel in one call is free of that race.

// resolveFlags confine openat2: stay beneath the directory, follow no
// symbolic link (so no /proc magic link either).
const resolveFlags = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS

// OpenBeneath opens rel, a relative path, beneath the directory dirfd,
// following no symbolic link, and returns the new descriptor
// (close-on-exec). flags are open(2) flags; mode applies with O_CREAT. It
// uses openat2 and, on a kernel without it, walks rel one O_NOFOLLOW open
// at a time. A symlink anywhere on the way gives an error wrapping ELOOP;
// a way out of dirfd one wrapping EXDEV.
func OpenBeneath(dirfd int, rel string, flags int, mode uint32) (int, error) {
	fd, err := openat2Hook(dirfd, rel, flags, mode)
	if errors.Is(err, unix.ENOSYS) {
		fd, err = walk(dirfd, rel, flags, mode)
	}
	return fd, err
}

// openat2Hook is openat2; tests replace it to take the older kernels' path.
var openat2Hook = openat2

func openat2(dirfd int, rel string, flags int, mode uint32) (int, error) {
	if err := relative(rel); err != nil {
		return -1, err
	}
	how := unix.OpenHow{Flags: uint64(flags | unix.O_NOFOLLOW | unix.O_CLOEXEC), Resolve: resolveFlags}
	if flags&unix.O_CREAT != 0 {
		how.Mode = uint64(mode)
	}
	for {
		fd, err := unix.Openat2(dirfd, rel, &how)
		if err == unix.EINTR || err == unix.EAGAIN && flags&unix.O_NONBLOCK == 0 {
			continue // EAGAIN: a rename raced the lookup; the kernel asks to retry
		}
		if err != nil {
			return -1, pathErr(rel, err)
		}
		return fd, nil
	}
}

// walk is OpenBeneath for kernels before 5.6: each directory on the way is
// opened O_PATH|O_NOFOLLOW from the one before and checked to be a
// directory, the last element is opened O_NOFOLLOW.
func walk(dirfd int, rel string, flags int, mode uint32) (int, error) {
	if err := relative(rel); err != nil {
		return -1, err
	}
	parts := strings.Split(rel, "/")
	fd := dirfd
	closeFd := func() {
		if fd != dirfd {
			unix.Close(fd)
		}
	}
	defer closeFd()
	for _, p := range parts[:len(parts)-1] {
		next, err := unix.Openat(fd, p, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return -1, pathErr(rel, err)
		}
		var st unix.Stat_t
		if err := unix.Fstat(next, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
			unix.Close(next)
			return -1, pathErr(rel, unix.ELOOP)
		}
		closeFd()
		fd = next
	}
	out, err := unix.Openat(fd, parts[len(parts)-1], flags|unix.O_NOFOLLOW|unix.O_CLOEXEC, mode)
	if err != nil {
		return -1, pathErr(rel, err)
	}
	if flags&unix.O_PATH != 0 {
		// O_PATH|O_NOFOLLOW opens a symlink itself instead of failing.
		var st unix.Stat_t
		if err := unix.Fstat(out, &st); err != nil || st.Mode&unix.S_IFMT == unix.S_IFLNK {
			unix.Close(out)
			return -1, pathErr(rel, unix.ELOOP)
		}
	}
	return out, nil
}

// relative refuses what no open beneath a directory may take.
func relative(rel string) error {
	if rel == "." {
		return nil
	}
	if rel == "" || path.IsAbs(rel) || strings.IndexByte(rel, 0) >= 0 || len(rel) > MaxLen {
		return pathErr(rel, unix.EINVAL)
	}
	for _, el := range strings.Split(rel, "/") {
		if el == "" || el == "." || el == ".." {
			return pathErr(rel, unix.EXDEV)
		}
	}
	return nil
}

// pathErr says what a refusal means; the errno stays inside for errors.Is.
func pathErr(rel string, err error) error {
	switch {
	case errors.Is(err, unix.ELOOP):
		return &os.PathError{Op: "open", Path: rel, Err: fmt.Errorf("a symbolic link is on the way, and none is followed (%w)", err)}
	case errors.Is(err, unix.EXDEV):
		return &os.PathError{Op: "open", Path: rel, Err: fmt.Errorf("it leads out of its directory (%w)", err)}
	}
	return &os.PathError{Op: "open", Path: rel, Err: err}
}

// OpenOutput opens the output file rel beneath dirfd for appending,
// creating it 0600 if it is missing. It never truncates on open: an
// existing file is emptied only if it is a regular file with one link owned
// by uid (the job's user; -1 skips the owner check), else an error naming
// the file says why. A FIFO or device is refused without blocking.
func OpenOutput(dirfd int, rel string, uid int) (*os.File, error) {
	fd, err := OpenBeneath(dirfd, rel, unix.O_WRONLY|unix.O_CREAT|unix.O_APPEND|unix.O_NONBLOCK, 0o600)
	if err != nil {
		return nil, err
	}
	if err := own(fd, rel, uid); err != nil {
		unix.Close(fd)
		return nil, err
	}
	if err := unix.Ftruncate(fd, 0); err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "truncate", Path: rel, Err: err}
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "open", Path: rel, Err: err}
	}
	return os.NewFile(uintptr(fd), rel), nil
}

// OpenLog opens the log file rel beneath dirfd for reading, under the same
// rules as OpenOutput: no symlink, a regular file with one link, owned by
// uid unless uid is -1.
func OpenLog(dirfd int, rel string, uid int) (*os.File, error) {
	fd, err := OpenBeneath(dirfd, rel, unix.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	if err := own(fd, rel, uid); err != nil {
		unix.Close(fd)
		return nil, err
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "open", Path: rel, Err: err}
	}
	return os.NewFile(uintptr(fd), rel), nil
}

// ErrNotOwn marks a file that exists but is not the job's to write or show:
// not a regular file, more than one link, or another owner.
var ErrNotOwn = errors.New("not the job's own file")

// own checks that fd is a regular file with one link owned by uid.
func own(fd int, rel string, uid int) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return &os.PathError{Op: "stat", Path: rel, Err: err}
	}
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		return &os.PathError{Op: "open", Path: rel, Err: fmt.Errorf("%w: not a regular file", ErrNotOwn)}
	case st.Nlink != 1:
		return &os.PathError{Op: "open", Path: rel, Err: fmt.Errorf("%w: it has %d hard links", ErrNotOwn, st.Nlink)}
	case uid >= 0 && int(st.Uid) != uid:
		return &os.PathError{Op: "open", Path: rel, Err: fmt.Errorf("%w: owned by uid %d, not the job's uid %d", ErrNotOwn, st.Uid, uid)}
	}
	return nil
}

// Dirs are the open directories a job's paths resolve against: its own
// directory and the site's allowed roots. Close releases them.
type Dirs struct {
	Job     int      // the job's directory (O_PATH)
	Roots   []string // allowed roots, absolute and cleaned
	rootFDs []int    // open O_PATH, in the order of Roots; -1 where missing
}

// OpenDirs opens the job's directory jobDir and the roots. The job
// directory is the driver's own and opened without following a final
// symlink; the roots are the operator's, opened as configured. A root that
// does not exist is skipped: paths under it fail when used.
func OpenDirs(jobDir string, roots []string) (*Dirs, error) {
	jfd, err := unix.Open(jobDir, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: jobDir, Err: err}
	}
	d := &Dirs{Job: jfd, Roots: roots}
	for _, r := range roots {
		fd, err := unix.Open(r, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			fd = -1
		}
		d.rootFDs = append(d.rootFDs, fd)
	}
	return d, nil
}

// RootFDs returns the open roots, in the order of Roots, -1 where a root
// is missing. They stay owned by d.
func (d *Dirs) RootFDs() []int { return d.rootFDs }

// Close closes the directories.
func (d *Dirs) Close() {
	unix.Close(d.Job)
	for _, fd := range d.rootFDs {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
}

// locate finds the directory a path p starts from, and p relative to it:
// base for a relative p, the root p lies under for an absolute one.
func (d *Dirs) locate(field, p string, base int, file bool) (int, string, error) {
	if err := Check(field, p, d.Roots, file); err != nil {
		return -1, "", err
	}
	p = path.Clean(p)
	if !path.IsAbs(p) {
		return base, p, nil
	}
	root, rel, _ := Within(p, d.Roots)
	for i, r := range d.Roots {
		if r == root && d.rootFDs[i] >= 0 {
			return d.rootFDs[i], rel, nil
		}
	}
	return -1, "", &Error{Field: field, Msg: fmt.Sprintf("allowed root %s is not there", root)}
}

// WorkDir opens the job's working directory wd (O_PATH): the job's own
// directory when wd is empty, else wd relative to it or under a root.
func (d *Dirs) WorkDir(wd string) (int, error) {
	if wd == "" {
		return OpenBeneath(d.Job, ".", unix.O_PATH|unix.O_DIRECTORY, 0)
	}
	dirfd, rel, err := d.locate(FieldWorkDir, wd, d.Job, false)
	if err != nil {
		return -1, err
	}
	fd, err := OpenBeneath(dirfd, rel, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		msg := fmt.Sprintf("%s: %v", wd, unwrapPath(err))
		switch {
		case errors.Is(err, unix.ENOENT):
			msg = wd + " does not exist"
		case errors.Is(err, unix.ENOTDIR):
			msg = wd + " is not a directory"
		}
		return -1, &Error{Field: FieldWorkDir, Msg: msg, Err: err}
	}
	return fd, nil
}

// File resolves an expanded output or error path p for field: relative to
// the working directory wdfd, or under a root. It returns the directory to
// open from and the name relative to it.
func (d *Dirs) File(field, p string, wdfd int) (dirfd int, rel string, err error) {
	return d.locate(field, p, wdfd, true)
}

// unwrapPath drops the os.PathError's own path, which is relative.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
