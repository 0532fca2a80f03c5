package main

// One pod on this node: its network namespace, volumes, init containers run in order,
// then its containers, each restarted per restartPolicy and watched by its probes.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
)

type podRun struct {
	p   *provider
	dir string // state/pods/<uid>

	mu       sync.Mutex
	pod      *corev1.Pod
	ip       string
	netns    string
	phase    corev1.PodPhase
	reason   string // pod-level waiting reason while the pod is being set up
	message  string
	started  metav1.Time
	inits    map[string]*containerRun
	ctrs     map[string]*containerRun
	volumes  map[string]string // volume name -> host path
	stopping bool
	ctx      context.Context
	cancel   context.CancelFunc
	done     chan struct{} // closed when run() has returned
	wg       sync.WaitGroup
}

// containerRun is one container's state, as reported in containerStatuses.
type containerRun struct {
	spec     corev1.Container
	restarts int32
	state    corev1.ContainerState
	last     corev1.ContainerState
	ready    bool
	startOK  bool // the startup probe passed (or there is none)
	proc     *os.Process
	exited   chan struct{} // closed when the current process exited
}

func newPodRun(p *provider, pod *corev1.Pod) *podRun {
	ctx, cancel := context.WithCancel(p.ctx)
	r := &podRun{
		p:       p,
		dir:     filepath.Join(p.c.state, "pods", string(pod.UID)),
		pod:     pod,
		phase:   corev1.PodPending,
		reason:  "ContainerCreating",
		started: metav1.Now(),
		inits:   map[string]*containerRun{},
		ctrs:    map[string]*containerRun{},
		volumes: map[string]string{},
		ctx:     ctx,
		cancel:  cancel,
		done:    make(chan struct{}),
	}
	waiting := corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "PodInitializing"}}
	for _, c := range pod.Spec.InitContainers {
		r.inits[c.Name] = &containerRun{spec: c, state: waiting}
	}
	for _, c := range pod.Spec.Containers {
		r.ctrs[c.Name] = &containerRun{spec: c, state: waiting}
	}
	return r
}

func (r *podRun) uid() types.UID {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pod.UID
}

func (r *podRun) update(pod *corev1.Pod) {
	r.mu.Lock()
	r.pod = pod
	r.mu.Unlock()
}

func (r *podRun) logPath(container string) string {
	return filepath.Join(r.dir, "logs", container+".log")
}

// run sets the pod up, runs the init containers, then supervises the containers until
// the pod is stopped (or, for restartPolicy Never/OnFailure, until they are done).
func (r *podRun) run() {
	defer close(r.done)
	name := r.pod.Namespace + "/" + r.pod.Name
	for attempt := 0; ; attempt++ {
		err := r.setup()
		if err == nil {
			break
		}
		klog.Errorf("pod %s: setting up: %v", name, err)
		r.mu.Lock()
		r.reason, r.message = "CreateContainerConfigError", err.Error()
		r.mu.Unlock()
		r.p.changed(r)
		if !r.sleep(time.Duration(min(attempt+1, 5)) * time.Second) {
			return
		}
	}
	r.mu.Lock()
	r.reason, r.message = "", ""
	r.mu.Unlock()
	r.p.changed(r)

	policy := r.pod.Spec.RestartPolicy
	for _, spec := range r.pod.Spec.InitContainers {
		c := r.inits[spec.Name]
		for {
			code, ok := r.runOnce(c, spec, true)
			if !ok {
				return
			}
			if code == 0 {
				break
			}
			if policy == corev1.RestartPolicyNever {
				r.finish(corev1.PodFailed)
				return
			}
			if !r.backoff(c) {
				return
			}
		}
	}
	r.mu.Lock()
	r.phase = corev1.PodRunning
	r.mu.Unlock()
	r.p.changed(r)
	for _, spec := range r.pod.Spec.Containers {
		r.wg.Add(1)
		go r.supervise(r.ctrs[spec.Name], spec, policy)
	}
	r.wg.Wait()
	if r.ctx.Err() != nil {
		return
	}
	// Every container is done for good: restartPolicy Never or OnFailure.
	phase := corev1.PodSucceeded
	r.mu.Lock()
	for _, c := range r.ctrs {
		if t := c.state.Terminated; t == nil || t.ExitCode != 0 {
			phase = corev1.PodFailed
		}
	}
	r.mu.Unlock()
	r.finish(phase)
}

func (r *podRun) finish(phase corev1.PodPhase) {
	r.mu.Lock()
	r.phase = phase
	r.mu.Unlock()
	r.p.changed(r)
}

// sleep waits d unless the pod stops first; false when it stopped.
func (r *podRun) sleep(d time.Duration) bool {
	select {
	case <-r.ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// backoff before a restart: 1 s doubling to 10 s (a kubelet caps at 5 min; the e2e
// suite wants crashes to be retried quickly).
func (r *podRun) backoff(c *containerRun) bool {
	r.mu.Lock()
	c.restarts++
	n := c.restarts
	c.state = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}
	r.mu.Unlock()
	r.p.changed(r)
	return r.sleep(min(time.Second<<min(n-1, 4), 10*time.Second))
}

// supervise runs one container and restarts it per restartPolicy.
func (r *podRun) supervise(c *containerRun, spec corev1.Container, policy corev1.RestartPolicy) {
	defer r.wg.Done()
	for {
		code, ok := r.runOnce(c, spec, false)
		if !ok {
			return
		}
		if policy == corev1.RestartPolicyNever || (policy == corev1.RestartPolicyOnFailure && code == 0) {
			return
		}
		if !r.backoff(c) {
			return
		}
	}
}

// runOnce starts the container's process, probes it while it runs and waits for it to
// exit. ok is false when the pod is stopping.
func (r *podRun) runOnce(c *containerRun, spec corev1.Container, isInit bool) (code int, ok bool) {
	if r.isStopping() {
		return 0, false
	}
	cmd, err := r.containerCmd(spec)
	if err == nil {
		err = cmd.Start()
		// The child has its own copy of the log file now.
		if f, isFile := cmd.Stdout.(*os.File); isFile {
			_ = f.Close()
		}
	}
	if err != nil {
		klog.Errorf("pod %s/%s container %s: %v", r.pod.Namespace, r.pod.Name, spec.Name, err)
		r.mu.Lock()
		c.state = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CreateContainerError", Message: err.Error()}}
		r.mu.Unlock()
		r.p.changed(r)
		return 1, r.sleep(2*time.Second) && !r.isStopping()
	}
	exited := make(chan struct{})
	r.mu.Lock()
	c.proc = cmd.Process
	c.exited = exited
	c.state = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}
	c.startOK = spec.StartupProbe == nil
	c.ready = !isInit && spec.ReadinessProbe == nil && c.startOK
	stopping := r.stopping
	r.mu.Unlock()
	r.p.changed(r)
	if stopping {
		// stop() may have looked at this container before the process existed.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	probeCtx, cancelProbes := context.WithCancel(r.ctx)
	if !isInit {
		go r.probe(probeCtx, c, spec, cmd.Process)
	}
	waitErr := cmd.Wait()
	cancelProbes()
	code = cmd.ProcessState.ExitCode()
	reason := "Completed"
	if code != 0 {
		reason = "Error"
	}
	if ws, isWS := cmd.ProcessState.Sys().(syscall.WaitStatus); isWS && ws.Signaled() {
		code = 128 + int(ws.Signal())
		reason = "Error"
	}
	_ = waitErr
	r.mu.Lock()
	c.proc = nil
	c.ready = false
	c.state = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
		ExitCode:   int32(code),
		Reason:     reason,
		StartedAt:  c.state.Running.StartedAt,
		FinishedAt: metav1.Now(),
	}}
	c.last = c.state
	close(exited)
	r.mu.Unlock()
	r.p.changed(r)
	return code, !r.isStopping()
}

func (r *podRun) isStopping() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stopping || r.ctx.Err() != nil
}

// kill sends SIGTERM to the container's process group, and SIGKILL after grace.
func (r *podRun) kill(c *containerRun, grace time.Duration) {
	r.mu.Lock()
	proc, exited := c.proc, c.exited
	r.mu.Unlock()
	if proc == nil {
		return
	}
	_ = syscall.Kill(-proc.Pid, syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(grace):
		_ = syscall.Kill(-proc.Pid, syscall.SIGKILL)
		<-exited
	}
}

// stop terminates every container (SIGTERM, SIGKILL after graceSeconds), then removes
// the pod's network namespace and files. PVC directories stay: they are the claim's.
func (r *podRun) stop(graceSeconds int64) {
	r.mu.Lock()
	if r.stopping {
		r.mu.Unlock()
		<-r.done
		return
	}
	r.stopping = true
	all := make([]*containerRun, 0, len(r.ctrs)+len(r.inits))
	for _, c := range r.ctrs {
		all = append(all, c)
	}
	for _, c := range r.inits {
		all = append(all, c)
	}
	r.mu.Unlock()
	grace := time.Duration(max(graceSeconds, 1)) * time.Second
	var wg sync.WaitGroup
	for _, c := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.kill(c, grace)
		}()
	}
	wg.Wait()
	r.cancel()
	<-r.done
	r.teardown()
}

// removeFromAPI deletes the Pod object with grace 0 once its processes are gone, for
// this UID only (a pod of the same name may already have replaced it).
func (r *podRun) removeFromAPI() {
	r.mu.Lock()
	pod := r.pod
	r.mu.Unlock()
	zero := int64(0)
	uid := pod.UID
	err := r.p.client.CoreV1().Pods(pod.Namespace).Delete(context.Background(), pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: &zero,
		Preconditions:      &metav1.Preconditions{UID: &uid},
	})
	if err != nil && !strings.Contains(err.Error(), "not found") {
		klog.Warningf("pod %s/%s: removing it: %v", pod.Namespace, pod.Name, err)
	}
}

// snapshot is the pod as last seen with the status this node reports for it.
func (r *podRun) snapshot() *corev1.Pod {
	r.mu.Lock()
	defer r.mu.Unlock()
	pod := r.pod.DeepCopy()
	st := corev1.PodStatus{
		Phase:     r.phase,
		HostIP:    "127.0.0.1",
		HostIPs:   []corev1.HostIP{{IP: "127.0.0.1"}},
		StartTime: &r.started,
		QOSClass:  pod.Status.QOSClass, // set by the API server, immutable
		Reason:    "",
		Message:   r.message,
	}
	if r.ip != "" {
		st.PodIP = r.ip
		st.PodIPs = []corev1.PodIP{{IP: r.ip}}
	}
	initsDone := true
	for _, spec := range pod.Spec.InitContainers {
		c := r.inits[spec.Name]
		st.InitContainerStatuses = append(st.InitContainerStatuses, r.status(c, spec))
		if t := c.state.Terminated; t == nil || t.ExitCode != 0 {
			initsDone = false
		}
	}
	allReady := len(pod.Spec.Containers) > 0
	for _, spec := range pod.Spec.Containers {
		c := r.ctrs[spec.Name]
		cs := r.status(c, spec)
		if r.reason != "" && cs.State.Waiting != nil {
			cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: r.reason, Message: r.message}
		}
		st.ContainerStatuses = append(st.ContainerStatuses, cs)
		allReady = allReady && c.ready
	}
	if r.phase == corev1.PodSucceeded || r.phase == corev1.PodFailed {
		allReady = false
	}
	now := metav1.Now()
	cond := func(t corev1.PodConditionType, ok bool) corev1.PodCondition {
		s := corev1.ConditionFalse
		if ok {
			s = corev1.ConditionTrue
		}
		return corev1.PodCondition{Type: t, Status: s, LastTransitionTime: now}
	}
	st.Conditions = []corev1.PodCondition{
		cond(corev1.PodScheduled, true),
		cond(corev1.PodReadyToStartContainers, r.ip != ""),
		cond(corev1.PodInitialized, initsDone),
		cond(corev1.ContainersReady, allReady),
		cond(corev1.PodReady, allReady),
	}
	// Keep transition times stable while a condition does not change, so status
	// updates are not made for nothing.
	for i, c := range st.Conditions {
		for _, old := range pod.Status.Conditions {
			if old.Type == c.Type && old.Status == c.Status {
				st.Conditions[i].LastTransitionTime = old.LastTransitionTime
			}
		}
	}
	pod.Status = st
	return pod
}

func (r *podRun) status(c *containerRun, spec corev1.Container) corev1.ContainerStatus {
	started := c.state.Running != nil && c.startOK
	return corev1.ContainerStatus{
		Name:                 spec.Name,
		Image:                spec.Image,
		ImageID:              "tidewater-e2e://" + spec.Image,
		ContainerID:          fmt.Sprintf("process://%s/%s", r.pod.UID, spec.Name),
		State:                c.state,
		LastTerminationState: c.last,
		Ready:                c.ready,
		Started:              &started,
		RestartCount:         c.restarts,
	}
}

// teardown removes the network namespace and the pod's directory. Mounts made for a
// container live in its own mount namespace and went away with its last process.
func (r *podRun) teardown() {
	r.mu.Lock()
	ns, ip := r.netns, r.ip
	r.mu.Unlock()
	if ns != "" {
		if out, err := exec.Command("ip", "netns", "delete", ns).CombinedOutput(); err != nil {
			klog.Warningf("deleting netns %s: %v: %s", ns, err, out)
		}
	}
	if ip != "" {
		r.p.ipam.release(ip)
	}
	// Overlay upper/work dirs can hold root-owned files with odd modes; RemoveAll copes.
	if err := os.RemoveAll(r.dir); err != nil {
		klog.Warningf("removing %s: %v", r.dir, err)
	}
}
