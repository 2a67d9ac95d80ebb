package runtime

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/strata-dev/strata/internal/errdefs"
)

// openInRoot opens name inside the container's root file system, resolving
// symlinks as the container would see them (an absolute one stays inside
// rootfs), so an image cannot make strata read a host file.
func openInRoot(rootfs, name string, flags int) (*os.File, error) {
	dir, err := unix.Open(rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: rootfs, Err: err}
	}
	defer unix.Close(dir)
	fd, err := unix.Openat2(dir, name, &unix.OpenHow{
		Flags:   uint64(flags | unix.O_CLOEXEC),
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: name, Err: err}
	}
	return os.NewFile(uintptr(fd), name), nil
}

// passwdEntry is a line of /etc/passwd or /etc/group.
type passwdEntry struct {
	name    string
	id      int
	gid     int      // passwd: primary group
	home    string   // passwd
	members []string // group
}

// readEntries reads the container's /etc/passwd or /etc/group; a missing
// file has no entries.
func readEntries(rootfs, file string) ([]passwdEntry, error) {
	f, err := openInRoot(rootfs, file, unix.O_RDONLY)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []passwdEntry
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) < 3 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		id, err := strconv.Atoi(fields[2])
		if err != nil {
			continue
		}
		e := passwdEntry{name: fields[0], id: id}
		if file == "/etc/passwd" && len(fields) >= 6 {
			e.gid, _ = strconv.Atoi(fields[3])
			e.home = fields[5]
		}
		if file == "/etc/group" && len(fields) >= 4 && fields[3] != "" {
			e.members = strings.Split(fields[3], ",")
		}
		out = append(out, e)
	}
	return out, sc.Err()
}

// ResolveUser turns -u (or the image's USER) into the process's uid, gid and
// supplementary groups, and its home directory, from the container's own
// /etc/passwd and /etc/group, as Docker does. A numeric uid need not be
// listed; a name must be.
func ResolveUser(rootfs, user string) (specs.User, string, error) {
	if user == "" {
		user = "0"
	}
	name, group, _ := strings.Cut(user, ":")
	users, err := readEntries(rootfs, "/etc/passwd")
	if err != nil {
		return specs.User{}, "", err
	}
	groups, err := readEntries(rootfs, "/etc/group")
	if err != nil {
		return specs.User{}, "", err
	}
	u := specs.User{}
	home := "/"
	entry, found := lookup(users, name)
	switch {
	case found:
		u.UID, u.GID, home = uint32(entry.id), uint32(entry.gid), entry.home
	case isNumber(name):
		n, _ := strconv.ParseUint(name, 10, 32)
		u.UID = uint32(n)
	default:
		return specs.User{}, "", fmt.Errorf("unable to find user %s: no matching entries in passwd file: %w", name, errdefs.ErrInvalidArgument)
	}
	if group != "" {
		g, found := lookup(groups, group)
		switch {
		case found:
			u.GID = uint32(g.id)
		case isNumber(group):
			n, _ := strconv.ParseUint(group, 10, 32)
			u.GID = uint32(n)
		default:
			return specs.User{}, "", fmt.Errorf("unable to find group %s: no matching entries in group file: %w", group, errdefs.ErrInvalidArgument)
		}
	}
	// As initgroups(3): the primary group, then the groups that list the user.
	u.AdditionalGids = []uint32{u.GID}
	if found {
		for _, g := range groups {
			if slices.Contains(g.members, entry.name) && uint32(g.id) != u.GID {
				u.AdditionalGids = append(u.AdditionalGids, uint32(g.id))
			}
		}
	}
	if home == "" {
		home = "/"
	}
	return u, path.Clean(home), nil
}

// lookup finds an entry by name, or by number when key is one.
func lookup(entries []passwdEntry, key string) (passwdEntry, bool) {
	for _, e := range entries {
		if e.name == key {
			return e, true
		}
	}
	if n, err := strconv.Atoi(key); err == nil {
		for _, e := range entries {
			if e.id == n {
				return e, true
			}
		}
	}
	return passwdEntry{}, false
}

func isNumber(s string) bool {
	_, err := strconv.ParseUint(s, 10, 32)
	return err == nil
}

// LookPath finds the program args[0] names in the container, through its
// PATH when it has no slash, as runc will, on the container's volumes too;
// the error says what Docker says (exit status 127 for a missing program,
// 126 for one that cannot run).
func LookPath(rootfs, cwd string, env []string, prog string, volumes []Volume) error {
	candidates := []string{prog}
	if !strings.Contains(prog, "/") {
		candidates = nil
		p := DefaultPath
		for _, kv := range env {
			if v, ok := strings.CutPrefix(kv, "PATH="); ok {
				p = v
			}
		}
		for _, dir := range strings.Split(p, ":") {
			if dir == "" {
				dir = "."
			}
			candidates = append(candidates, path.Join(dir, prog))
		}
	}
	for _, c := range candidates {
		if !path.IsAbs(c) {
			c = path.Join(cwd, c)
		}
		f, err := openInContainer(rootfs, c, volumes)
		if err != nil {
			continue
		}
		var st unix.Stat_t
		err = unix.Fstat(int(f.Fd()), &st)
		f.Close()
		if err != nil || st.Mode&unix.S_IFMT == unix.S_IFDIR {
			continue
		}
		if st.Mode&0o111 == 0 {
			return &ExecError{Code: 126, Msg: fmt.Sprintf("exec: %q: permission denied", prog)}
		}
		return nil
	}
	if strings.Contains(prog, "/") {
		return &ExecError{Code: 127, Msg: fmt.Sprintf("exec: %q: no such file or directory", prog)}
	}
	return &ExecError{Code: 127, Msg: fmt.Sprintf("exec: %q: executable file not found in $PATH", prog)}
}

// openInContainer opens the container path p as the container will see it:
// on the volume mounted over it if there is one, else in its root file
// system, symlinks resolved inside either.
func openInContainer(rootfs, p string, volumes []Volume) (*os.File, error) {
	var on *Volume
	for i, v := range volumes {
		t := path.Clean(v.Target)
		if (p == t || strings.HasPrefix(p, strings.TrimSuffix(t, "/")+"/")) && (on == nil || len(t) > len(path.Clean(on.Target))) {
			on = &volumes[i]
		}
	}
	switch {
	case on == nil:
		return openInRoot(rootfs, p, unix.O_PATH)
	case p == path.Clean(on.Target): // a file mounted as the program itself
		return os.OpenFile(on.Source, unix.O_PATH|unix.O_CLOEXEC, 0)
	}
	return openInRoot(on.Source, strings.TrimPrefix(p, path.Clean(on.Target)), unix.O_PATH)
}

// ExecError is a container whose program could not start, with the exit
// status Docker gives for it.
type ExecError struct {
	Code int
	Msg  string
}

func (e *ExecError) Error() string { return e.Msg }

// MkdirInRoot makes the directory p (absolute, in the container) and its
// parents inside rootfs, resolving symlinks as the container would, as
// Docker does for a working directory that the image lacks.
func MkdirInRoot(rootfs, p string) error {
	walked := "/"
	for _, part := range strings.Split(strings.Trim(path.Clean(p), "/"), "/") {
		if part == "" {
			continue
		}
		parent := walked
		walked = path.Join(walked, part)
		f, err := openInRoot(rootfs, walked, unix.O_PATH|unix.O_DIRECTORY)
		if err == nil {
			f.Close()
			continue
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		d, err := openInRoot(rootfs, parent, unix.O_PATH|unix.O_DIRECTORY)
		if err != nil {
			return err
		}
		err = unix.Mkdirat(int(d.Fd()), part, 0o755)
		d.Close()
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("make %s in the container: %w", walked, err)
		}
	}
	return nil
}

// ResolveInRoot resolves the container path p as the container would see
// it, symlinks included, never leaving rootfs, and returns the path it
// names relative to rootfs ("" for the root itself).
func ResolveInRoot(rootfs, p string) (string, error) {
	f, err := openInRoot(rootfs, p, unix.O_PATH)
	if err != nil {
		return "", err
	}
	defer f.Close()
	real, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", f.Fd()))
	if err != nil {
		return "", err
	}
	root, err := filepath.EvalSymlinks(rootfs)
	if err != nil {
		return "", err
	}
	rel, err := filepath.Rel(root, real)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return "", fmt.Errorf("%s resolves outside the container", p)
	}
	if rel == "." {
		rel = ""
	}
	return rel, nil
}
