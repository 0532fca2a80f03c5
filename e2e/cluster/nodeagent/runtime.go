package main

// How a pod's pieces are made on this host: its network namespace and address, the
// container process (through `nodeagent container-init`), its environment, and the
// image name -> root filesystem mapping.

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/kubernetes/third_party/forked/golang/expansion"
)

// ipam hands out this node's pod addresses.
type ipam struct {
	mu    sync.Mutex
	base  net.IP // the /24's first address
	inUse map[string]bool
}

func newIPAM(subnet string) (*ipam, error) {
	_, n, err := net.ParseCIDR(subnet)
	if err != nil {
		return nil, fmt.Errorf("--pod-subnet: %w", err)
	}
	return &ipam{base: n.IP.To4(), inUse: map[string]bool{}}, nil
}

func (a *ipam) allocate() (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i := 2; i < 255; i++ {
		ip := net.IPv4(a.base[0], a.base[1], a.base[2], byte(i)).String()
		if !a.inUse[ip] {
			a.inUse[ip] = true
			return ip, nil
		}
	}
	return "", fmt.Errorf("no pod address left in %s/24", a.base)
}

func (a *ipam) release(ip string) {
	a.mu.Lock()
	delete(a.inUse, ip)
	a.mu.Unlock()
}

func runIP(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// setup gives the pod its network namespace and address and materializes its volumes.
// It is retried until it succeeds, so each step tolerates having been done already.
func (r *podRun) setup() error {
	for _, d := range []string{"logs", "volumes", "containers"} {
		if err := os.MkdirAll(filepath.Join(r.dir, d), 0o755); err != nil {
			return err
		}
	}
	if err := r.setupNetwork(); err != nil {
		return err
	}
	return r.setupVolumes()
}

func (r *podRun) setupNetwork() error {
	r.mu.Lock()
	done := r.netns != ""
	r.mu.Unlock()
	if done {
		return nil
	}
	uid := strings.ReplaceAll(string(r.pod.UID), "-", "")
	ns := "tw-" + uid[:12]
	veth := "tw" + uid[:11]
	ip, err := r.p.ipam.allocate()
	if err != nil {
		return err
	}
	_ = exec.Command("ip", "netns", "delete", ns).Run()
	steps := [][]string{
		{"netns", "add", ns},
		{"link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns},
		{"link", "set", veth, "master", r.p.c.bridge, "up"},
		{"-n", ns, "addr", "add", ip + "/16", "dev", "eth0"},
		{"-n", ns, "link", "set", "eth0", "up"},
		{"-n", ns, "link", "set", "lo", "up"},
		{"-n", ns, "route", "add", "default", "via", r.p.c.gateway},
	}
	for _, s := range steps {
		if err := runIP(s...); err != nil {
			_ = exec.Command("ip", "netns", "delete", ns).Run()
			r.p.ipam.release(ip)
			return err
		}
	}
	r.mu.Lock()
	r.netns, r.ip = ns, ip
	r.mu.Unlock()
	return nil
}

// image is what an image name maps to on this host.
type image struct {
	rootfs   string // "" runs on the host's own root
	uid, gid int64  // the image's USER
}

// lookupImage reads --images and state/images (written by e2e/image after the agents
// started, so it is read again for each container).
func (p *provider) lookupImage(name string) (image, error) {
	entries := strings.Split(p.c.images, ",")
	if data, err := os.ReadFile(filepath.Join(p.c.state, "images")); err == nil {
		entries = append(entries, strings.Fields(string(data))...)
	}
	var found *image
	for _, e := range entries {
		k, v, ok := strings.Cut(strings.TrimSpace(e), "=")
		if !ok || k != name {
			continue
		}
		img := image{}
		path, user, _ := strings.Cut(v, "#")
		if path != "host" {
			img.rootfs = path
		}
		if user != "" {
			u, g, _ := strings.Cut(user, ":")
			img.uid, _ = strconv.ParseInt(u, 10, 64)
			img.gid, _ = strconv.ParseInt(g, 10, 64)
		}
		found = &img
	}
	if found == nil {
		return image{}, fmt.Errorf("image %q is not known to this node: add image=rootfs to %s/images", name, p.c.state)
	}
	return *found, nil
}

// identity is the uid, gid and supplementary groups a container runs as.
func identity(pod *corev1.Pod, spec corev1.Container, img image) (uid, gid int64, groups []int64, err error) {
	uid, gid = img.uid, img.gid
	nonRoot := false
	if sc := pod.Spec.SecurityContext; sc != nil {
		if sc.RunAsUser != nil {
			uid = *sc.RunAsUser
		}
		if sc.RunAsGroup != nil {
			gid = *sc.RunAsGroup
		}
		if sc.FSGroup != nil {
			groups = append(groups, *sc.FSGroup)
		}
		groups = append(groups, sc.SupplementalGroups...)
		nonRoot = sc.RunAsNonRoot != nil && *sc.RunAsNonRoot
	}
	if sc := spec.SecurityContext; sc != nil {
		if sc.RunAsUser != nil {
			uid = *sc.RunAsUser
		}
		if sc.RunAsGroup != nil {
			gid = *sc.RunAsGroup
		}
		if sc.RunAsNonRoot != nil {
			nonRoot = *sc.RunAsNonRoot
		}
	}
	if nonRoot && uid == 0 {
		return 0, 0, nil, fmt.Errorf("container has runAsNonRoot and image will run as root")
	}
	return uid, gid, groups, nil
}

// environment is the container's environment: virtual-kubelet has already resolved
// valueFrom references into values; $(VAR) references are expanded as a kubelet does.
func (r *podRun) environment(spec corev1.Container) ([]string, func(string) string) {
	vars := map[string]string{}
	var order []string
	set := func(k, v string) {
		if _, ok := vars[k]; !ok {
			order = append(order, k)
		}
		vars[k] = v
	}
	host, port, _ := net.SplitHostPort(r.p.c.apiserver)
	set("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	hostname := r.pod.Name
	if r.pod.Spec.Hostname != "" {
		hostname = r.pod.Spec.Hostname
	}
	set("HOSTNAME", hostname)
	for _, e := range spec.Env {
		set(e.Name, expansion.Expand(e.Value, expansion.MappingFuncFor(vars)))
	}
	// The API server as pods reach it (the kubernetes Service's ClusterIP is not
	// routed here: there is no kube-proxy).
	set("KUBERNETES_SERVICE_HOST", host)
	set("KUBERNETES_SERVICE_PORT", port)
	set("KUBERNETES_PORT", "tcp://"+r.p.c.apiserver)
	env := make([]string, 0, len(order))
	for _, k := range order {
		env = append(env, k+"="+vars[k])
	}
	return env, expansion.MappingFuncFor(vars)
}

// containerCmd is the command that starts the container: container-init enters the
// pod's network namespace, builds the container's root and mounts in a new mount
// namespace, drops to the container's user and execs its command.
func (r *podRun) containerCmd(spec corev1.Container) (*exec.Cmd, error) {
	cmd, err := r.initCmd(spec, nil)
	if err != nil {
		return nil, err
	}
	logf, err := os.OpenFile(r.logPath(spec.Name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	return cmd, nil
}

// initCmd: with argv nil, the container's own command; else argv (an exec probe).
func (r *podRun) initCmd(spec corev1.Container, argv []string) (*exec.Cmd, error) {
	img, err := r.p.lookupImage(spec.Image)
	if err != nil {
		return nil, err
	}
	uid, gid, groups, err := identity(r.pod, spec, img)
	if err != nil {
		return nil, err
	}
	env, mapping := r.environment(spec)
	if argv == nil {
		for _, a := range spec.Command {
			argv = append(argv, expansion.Expand(a, mapping))
		}
		for _, a := range spec.Args {
			argv = append(argv, expansion.Expand(a, mapping))
		}
	}
	if len(argv) == 0 {
		return nil, fmt.Errorf("container %s names no command (the node agent does not read image entrypoints)", spec.Name)
	}
	cdir := filepath.Join(r.dir, "containers", spec.Name)
	args := []string{"container-init",
		"--netns", "/run/netns/" + r.netns,
		"--hostname", envValue(env, "HOSTNAME"),
		"--uid", strconv.FormatInt(uid, 10),
		"--gid", strconv.FormatInt(gid, 10),
		"--hosts", filepath.Join(r.p.c.state, "hosts"),
		"--resolv", filepath.Join(r.p.c.state, "resolv.conf"),
		"--workdir", spec.WorkingDir,
	}
	if img.rootfs != "" {
		args = append(args, "--rootfs", img.rootfs, "--scratch", cdir)
	}
	for _, g := range groups {
		args = append(args, "--group", strconv.FormatInt(g, 10))
	}
	for _, m := range spec.VolumeMounts {
		src, ok := r.volumes[m.Name]
		if !ok {
			return nil, fmt.Errorf("volume %q of mount %s is not set up", m.Name, m.MountPath)
		}
		if m.SubPath != "" {
			src = filepath.Join(src, m.SubPath)
		}
		mode := "rw"
		if m.ReadOnly {
			mode = "ro"
		}
		args = append(args, "--mount", src+":"+m.MountPath+":"+mode)
	}
	args = append(args, "--")
	args = append(args, argv...)
	cmd := exec.Command("/proc/self/exe", args...)
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid: true,
		// Go makes the new mount namespace private (MS_REC|MS_PRIVATE on /) itself.
		Unshareflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWUTS,
	}
	return cmd, nil
}

func envValue(env []string, key string) string {
	for _, e := range env {
		if k, v, ok := strings.Cut(e, "="); ok && k == key {
			return v
		}
	}
	return ""
}

// sortedKeys: deterministic order of map keys (volume files).
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
