package main

// Startup, liveness and readiness probes, run from the host against the pod's address
// (httpGet, tcpSocket) or inside the container's namespaces (exec).

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/klog/v2"
)

// probe runs the container's probes while its process lives: a failed startup or
// liveness probe kills the process (the supervisor restarts it); readiness sets ready.
func (r *podRun) probe(ctx context.Context, c *containerRun, spec corev1.Container, proc *os.Process) {
	name := fmt.Sprintf("%s/%s %s", r.pod.Namespace, r.pod.Name, spec.Name)
	if p := spec.StartupProbe; p != nil {
		if !r.until(ctx, spec, p, true) {
			if ctx.Err() == nil {
				klog.Infof("%s: startup probe failed, restarting", name)
				r.kill(c, grace(r.pod))
			}
			return
		}
	}
	r.mu.Lock()
	c.startOK = true
	if spec.ReadinessProbe == nil {
		c.ready = true
	}
	r.mu.Unlock()
	r.p.changed(r)
	if p := spec.LivenessProbe; p != nil {
		go func() {
			if !r.until(ctx, spec, p, false) && ctx.Err() == nil {
				klog.Infof("%s: liveness probe failed, restarting", name)
				r.kill(c, grace(r.pod))
			}
		}()
	}
	p := spec.ReadinessProbe
	if p == nil {
		return
	}
	wait(ctx, seconds(p.InitialDelaySeconds, 0))
	fails, oks := 0, 0
	for ctx.Err() == nil {
		ok := r.check(ctx, spec, p)
		if ok {
			oks, fails = oks+1, 0
		} else {
			fails, oks = fails+1, 0
		}
		r.mu.Lock()
		before := c.ready
		if oks >= int(max(p.SuccessThreshold, 1)) {
			c.ready = true
		}
		if fails >= int(max(p.FailureThreshold, 1)) {
			c.ready = false
		}
		after := c.ready
		r.mu.Unlock()
		if before != after {
			r.p.changed(r)
		}
		wait(ctx, seconds(p.PeriodSeconds, 10))
	}
}

// until runs probe p every period. With untilSuccess it returns true at the first
// success and false after failureThreshold failures; otherwise it returns false after
// failureThreshold failures in a row (and runs while the context lives).
func (r *podRun) until(ctx context.Context, spec corev1.Container, p *corev1.Probe, untilSuccess bool) bool {
	wait(ctx, seconds(p.InitialDelaySeconds, 0))
	fails := 0
	for ctx.Err() == nil {
		if r.check(ctx, spec, p) {
			if untilSuccess {
				return true
			}
			fails = 0
		} else {
			fails++
			if fails >= int(max(p.FailureThreshold, 1)) {
				return false
			}
		}
		wait(ctx, seconds(p.PeriodSeconds, 10))
	}
	return false
}

func (r *podRun) check(ctx context.Context, spec corev1.Container, p *corev1.Probe) bool {
	timeout := seconds(p.TimeoutSeconds, 1)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	r.mu.Lock()
	ip := r.ip
	r.mu.Unlock()
	switch {
	case p.HTTPGet != nil:
		port, err := portOf(spec, p.HTTPGet.Port)
		if err != nil {
			return false
		}
		host := p.HTTPGet.Host
		if host == "" {
			host = ip
		}
		url := fmt.Sprintf("http://%s%s", net.JoinHostPort(host, strconv.Itoa(port)), p.HTTPGet.Path)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return false
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode >= 200 && resp.StatusCode < 400
	case p.TCPSocket != nil:
		port, err := portOf(spec, p.TCPSocket.Port)
		if err != nil {
			return false
		}
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
		if err != nil {
			return false
		}
		conn.Close()
		return true
	case p.Exec != nil:
		cmd, err := r.initCmd(spec, p.Exec.Command)
		if err != nil {
			return false
		}
		if err := cmd.Start(); err != nil {
			return false
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			return err == nil
		case <-ctx.Done():
			_ = cmd.Process.Kill()
			<-done
			return false
		}
	}
	return true
}

// portOf resolves a probe's port: a number, or the name of one of the container's ports.
func portOf(spec corev1.Container, port intstr.IntOrString) (int, error) {
	if port.Type == intstr.Int {
		return port.IntValue(), nil
	}
	for _, p := range spec.Ports {
		if p.Name == port.StrVal {
			return int(p.ContainerPort), nil
		}
	}
	return 0, fmt.Errorf("no port named %q", port.StrVal)
}

func seconds(v int32, def int) time.Duration {
	if v <= 0 {
		return time.Duration(def) * time.Second
	}
	return time.Duration(v) * time.Second
}

func wait(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

func grace(pod *corev1.Pod) time.Duration {
	if s := pod.Spec.TerminationGracePeriodSeconds; s != nil && *s > 0 {
		return time.Duration(*s) * time.Second
	}
	return 30 * time.Second
}
