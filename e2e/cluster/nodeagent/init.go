package main

// `nodeagent container-init`: the first process of a container. The agent starts it
// in a new mount and UTS namespace; it joins the pod's network namespace, builds the
// container's root (an overlay over the image's root filesystem), bind mounts the
// volumes, /etc/hosts and /etc/resolv.conf, chroots, drops to the container's user and
// execs the container's command, keeping its pid (the agent signals that process group).

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"

	securejoin "github.com/cyphar/filepath-securejoin"
	"golang.org/x/sys/unix"
)

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

func containerInit(args []string) {
	if err := containerInitErr(args); err != nil {
		fmt.Fprintln(os.Stderr, "container-init:", err)
		os.Exit(127)
	}
}

func containerInitErr(args []string) error {
	fs := flag.NewFlagSet("container-init", flag.ContinueOnError)
	netns := fs.String("netns", "", "network namespace to join")
	hostname := fs.String("hostname", "", "")
	rootfs := fs.String("rootfs", "", "image root filesystem (empty: the host's)")
	scratch := fs.String("scratch", "", "directory for the overlay's upper and work dirs")
	uid := fs.Int("uid", 0, "")
	gid := fs.Int("gid", 0, "")
	workdir := fs.String("workdir", "", "")
	hosts := fs.String("hosts", "", "file mounted at /etc/hosts")
	resolv := fs.String("resolv", "", "file mounted at /etc/resolv.conf")
	var mounts, groups multi
	fs.Var(&mounts, "mount", "src:dst:ro|rw")
	fs.Var(&groups, "group", "supplementary group")
	if err := fs.Parse(args); err != nil {
		return err
	}
	argv := fs.Args()
	if len(argv) == 0 {
		return fmt.Errorf("no command")
	}
	// setns applies to this thread; exec happens from it, so the command inherits it.
	runtime.LockOSThread()
	if *netns != "" {
		f, err := os.Open(*netns)
		if err != nil {
			return err
		}
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("joining %s: %w", *netns, err)
		}
		f.Close()
	}
	if *hostname != "" {
		_ = unix.Sethostname([]byte(*hostname))
	}
	root := "/"
	if *rootfs != "" {
		root = filepath.Join(*scratch, "root")
		upper, work := filepath.Join(*scratch, "upper"), filepath.Join(*scratch, "work")
		for _, d := range []string{root, upper, work} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return err
			}
		}
		opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", *rootfs, upper, work)
		if err := unix.Mount("overlay", root, "overlay", 0, opts); err != nil {
			return fmt.Errorf("overlay root (%s): %w", opts, err)
		}
		if err := mountInto(root, "proc", "/proc", "proc", 0, ""); err != nil {
			return err
		}
		if err := mountInto(root, "/dev", "/dev", "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return err
		}
		if err := mountInto(root, "/sys", "/sys", "", unix.MS_BIND|unix.MS_REC|unix.MS_RDONLY, ""); err != nil {
			return err
		}
	}
	if *hosts != "" {
		if err := bindInto(root, *hosts, "/etc/hosts", true); err != nil {
			return err
		}
	}
	if *resolv != "" {
		if err := bindInto(root, *resolv, "/etc/resolv.conf", true); err != nil {
			return err
		}
	}
	// Volumes may nest (a Secret at /etc/tidewater/tls inside a ConfigMap at
	// /etc/tidewater): bind them parents first, all writable, so a child's mount point
	// is made in its parent's host directory; only then make the read-only ones so, each
	// on its own (a kubelet's runtime does the same).
	type volume struct {
		src, dst string
		readOnly bool
	}
	var volumes []volume
	for _, m := range mounts {
		parts := strings.Split(m, ":")
		if len(parts) != 3 {
			return fmt.Errorf("bad --mount %q", m)
		}
		volumes = append(volumes, volume{parts[0], filepath.Clean(parts[1]), parts[2] == "ro"})
	}
	sort.SliceStable(volumes, func(i, j int) bool {
		return strings.Count(volumes[i].dst, "/") < strings.Count(volumes[j].dst, "/")
	})
	targets := make([]string, len(volumes))
	for i, v := range volumes {
		target, err := bind(root, v.src, v.dst)
		if err != nil {
			return err
		}
		targets[i] = target
	}
	for i, v := range volumes {
		if !v.readOnly {
			continue
		}
		if err := unix.Mount("", targets[i], "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
			return fmt.Errorf("read-only %s: %w", targets[i], err)
		}
	}
	if root != "/" {
		if err := unix.Chroot(root); err != nil {
			return fmt.Errorf("chroot %s: %w", root, err)
		}
	}
	dir := *workdir
	if dir == "" {
		dir = "/"
	}
	if err := os.Chdir(dir); err != nil {
		return fmt.Errorf("working dir %s: %w", dir, err)
	}
	gids := []int{*gid}
	for _, g := range groups {
		var n int
		if _, err := fmt.Sscan(g, &n); err == nil {
			gids = append(gids, n)
		}
	}
	if err := syscall.Setgroups(gids); err != nil {
		return fmt.Errorf("setgroups: %w", err)
	}
	if err := syscall.Setgid(*gid); err != nil {
		return fmt.Errorf("setgid: %w", err)
	}
	if err := syscall.Setuid(*uid); err != nil {
		return fmt.Errorf("setuid: %w", err)
	}
	path := argv[0]
	if !strings.Contains(path, "/") {
		found, err := exec.LookPath(path)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		path = found
	}
	return syscall.Exec(path, argv, os.Environ())
}

// inRoot is dst inside root with symlinks resolved as the container will see them
// (Debian's /var/run -> /run must lead to the image's /run, not the host's).
func inRoot(root, dst string) (string, error) {
	if root == "/" {
		return dst, nil
	}
	return securejoin.SecureJoin(root, dst)
}

func mountInto(root, src, dst, fstype string, flags uintptr, data string) error {
	target, err := inRoot(root, dst)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(target, 0o755); err != nil {
		return err
	}
	if err := unix.Mount(src, target, fstype, flags, data); err != nil {
		return fmt.Errorf("mounting %s at %s: %w", src, target, err)
	}
	return nil
}

// bindInto bind mounts src (a file or a directory) at root/dst, read-only if asked.
func bindInto(root, src, dst string, readOnly bool) error {
	target, err := bind(root, src, dst)
	if err != nil {
		return err
	}
	if readOnly {
		if err := unix.Mount("", target, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("read-only %s: %w", target, err)
		}
	}
	return nil
}

// bind bind mounts src (a file or a directory) at root/dst, writable; returns the
// mount point.
func bind(root, src, dst string) (string, error) {
	target, err := inRoot(root, dst)
	if err != nil {
		return "", err
	}
	st, err := os.Stat(src)
	if err != nil {
		return "", err
	}
	if st.IsDir() {
		if err := os.MkdirAll(target, 0o755); err != nil {
			return "", err
		}
	} else {
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return "", err
		}
		// In an image's root (never the host's), replace a symlink such as
		// /etc/resolv.conf by a file to mount over.
		if fi, err := os.Lstat(target); root != "/" && err == nil && fi.Mode()&os.ModeSymlink != 0 {
			_ = os.Remove(target)
		}
		if f, err := os.OpenFile(target, os.O_CREATE, 0o644); err == nil {
			f.Close()
		}
	}
	if err := unix.Mount(src, target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return "", fmt.Errorf("bind %s at %s: %w", src, target, err)
	}
	return target, nil
}
