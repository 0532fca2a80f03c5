package main

// The virtual-kubelet provider: keeps one podRun per pod bound to this node and answers
// virtual-kubelet's questions about them. The work of running a pod is in pod.go.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	dto "github.com/prometheus/client_model/go"
	"github.com/virtual-kubelet/virtual-kubelet/errdefs"
	"github.com/virtual-kubelet/virtual-kubelet/node/api"
	"github.com/virtual-kubelet/virtual-kubelet/node/nodeutil"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
)

type provider struct {
	c      config
	client kubernetes.Interface
	lister nodeutil.ProviderConfig
	ipam   *ipam
	// ctx ends when the agent stops; pods started under it stop with it.
	ctx context.Context

	mu     sync.Mutex
	pods   map[string]*podRun // by namespace/name
	notify func(*corev1.Pod)
}

func newProvider(ctx context.Context, c config, client kubernetes.Interface, pc nodeutil.ProviderConfig) (*provider, error) {
	ip, err := newIPAM(c.podSubnet)
	if err != nil {
		return nil, err
	}
	for _, dir := range []string{"pods", "volumes"} {
		if err := os.MkdirAll(filepath.Join(c.state, dir), 0o755); err != nil {
			return nil, err
		}
	}
	// Names resolve from the shared hosts file only: nothing listens on port 53 in a
	// pod's network namespace, so any other lookup fails at once instead of timing out.
	resolv := filepath.Join(c.state, "resolv.conf")
	if err := os.WriteFile(resolv, []byte("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n"), 0o644); err != nil {
		return nil, err
	}
	hosts := filepath.Join(c.state, "hosts")
	if _, err := os.Stat(hosts); err != nil {
		if err := os.WriteFile(hosts, []byte(hostsHeader(c)), 0o644); err != nil {
			return nil, err
		}
	}
	return &provider{c: c, client: client, lister: pc, ipam: ip, ctx: ctx, pods: map[string]*podRun{}}, nil
}

func key(namespace, name string) string { return namespace + "/" + name }

// changed tells virtual-kubelet the pod's status moved on.
func (p *provider) changed(r *podRun) {
	p.mu.Lock()
	cb := p.notify
	p.mu.Unlock()
	if cb != nil {
		cb(r.snapshot())
	}
}

// NotifyPods registers virtual-kubelet's callback for status changes (node.PodNotifier).
func (p *provider) NotifyPods(_ context.Context, cb func(*corev1.Pod)) {
	p.mu.Lock()
	p.notify = cb
	p.mu.Unlock()
}

func (p *provider) CreatePod(_ context.Context, pod *corev1.Pod) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := key(pod.Namespace, pod.Name)
	if old, ok := p.pods[k]; ok && old.uid() == pod.UID {
		return nil
	}
	r := newPodRun(p, pod.DeepCopy())
	p.pods[k] = r
	go r.run()
	return nil
}

func (p *provider) UpdatePod(_ context.Context, pod *corev1.Pod) error {
	p.mu.Lock()
	r, ok := p.pods[key(pod.Namespace, pod.Name)]
	p.mu.Unlock()
	if !ok || r.uid() != pod.UID {
		return p.CreatePod(context.Background(), pod)
	}
	r.update(pod.DeepCopy())
	return nil
}

// DeletePod stops the pod in the background: SIGTERM, SIGKILL after the grace period,
// then removes the Pod object as a kubelet does once its containers are gone.
func (p *provider) DeletePod(_ context.Context, pod *corev1.Pod) error {
	p.mu.Lock()
	r, ok := p.pods[key(pod.Namespace, pod.Name)]
	p.mu.Unlock()
	if !ok || r.uid() != pod.UID {
		return errdefs.NotFoundf("pod %s/%s is not on this node", pod.Namespace, pod.Name)
	}
	r.update(pod.DeepCopy())
	go func() {
		r.stop(gracePeriod(pod))
		p.mu.Lock()
		if p.pods[key(pod.Namespace, pod.Name)] == r {
			delete(p.pods, key(pod.Namespace, pod.Name))
		}
		p.mu.Unlock()
		r.removeFromAPI()
	}()
	return nil
}

func (p *provider) GetPod(_ context.Context, namespace, name string) (*corev1.Pod, error) {
	p.mu.Lock()
	r, ok := p.pods[key(namespace, name)]
	p.mu.Unlock()
	if !ok {
		return nil, errdefs.NotFoundf("pod %s/%s is not on this node", namespace, name)
	}
	return r.snapshot(), nil
}

func (p *provider) GetPodStatus(ctx context.Context, namespace, name string) (*corev1.PodStatus, error) {
	pod, err := p.GetPod(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	return &pod.Status, nil
}

func (p *provider) GetPods(context.Context) ([]*corev1.Pod, error) {
	p.mu.Lock()
	runs := make([]*podRun, 0, len(p.pods))
	for _, r := range p.pods {
		runs = append(runs, r)
	}
	p.mu.Unlock()
	out := make([]*corev1.Pod, 0, len(runs))
	for _, r := range runs {
		out = append(out, r.snapshot())
	}
	return out, nil
}

// GetContainerLogs serves `kubectl logs` from the container's log file.
func (p *provider) GetContainerLogs(_ context.Context, namespace, podName, container string, opts api.ContainerLogOpts) (io.ReadCloser, error) {
	p.mu.Lock()
	r, ok := p.pods[key(namespace, podName)]
	p.mu.Unlock()
	if !ok {
		return nil, errdefs.NotFoundf("pod %s/%s is not on this node", namespace, podName)
	}
	data, err := os.ReadFile(r.logPath(container))
	if err != nil {
		return nil, errdefs.NotFoundf("no log of container %s: %v", container, err)
	}
	if opts.Tail > 0 {
		var lines []string
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		for sc.Scan() {
			lines = append(lines, sc.Text())
		}
		if len(lines) > opts.Tail {
			lines = lines[len(lines)-opts.Tail:]
		}
		data = []byte(strings.Join(lines, "\n") + "\n")
	}
	if opts.LimitBytes > 0 && len(data) > opts.LimitBytes {
		data = data[:opts.LimitBytes]
	}
	return io.NopCloser(bytes.NewReader(data)), nil
}

func (p *provider) RunInContainer(context.Context, string, string, string, []string, api.AttachIO) error {
	return fmt.Errorf("exec is not supported by the e2e node agent")
}

func (p *provider) AttachToContainer(context.Context, string, string, string, api.AttachIO) error {
	return fmt.Errorf("attach is not supported by the e2e node agent")
}

func (p *provider) GetStatsSummary(context.Context) (*statsv1alpha1.Summary, error) {
	return &statsv1alpha1.Summary{}, nil
}

func (p *provider) GetMetricsResource(context.Context) ([]*dto.MetricFamily, error) {
	return nil, nil
}

func (p *provider) PortForward(context.Context, string, string, int32, io.ReadWriteCloser) error {
	return fmt.Errorf("port-forward is not supported by the e2e node agent")
}

// shutdown stops every pod, as the node goes away.
func (p *provider) shutdown() {
	if p == nil {
		return
	}
	p.mu.Lock()
	runs := make([]*podRun, 0, len(p.pods))
	for _, r := range p.pods {
		runs = append(runs, r)
	}
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, r := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.stop(10)
		}()
	}
	wg.Wait()
}

// gracePeriod: the deletion's grace, else the pod's terminationGracePeriodSeconds.
func gracePeriod(pod *corev1.Pod) int64 {
	if pod.DeletionGracePeriodSeconds != nil {
		return *pod.DeletionGracePeriodSeconds
	}
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		return *pod.Spec.TerminationGracePeriodSeconds
	}
	return 30
}
