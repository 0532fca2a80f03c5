package main

// The cluster's names, without a DNS server: one agent keeps a hosts file that every
// container sees at /etc/hosts. It names each pod with a hostname and subdomain
// (<hostname>.<subdomain>.<ns>.svc[.cluster.local], as cluster DNS does for pods behind
// a headless Service) and each Service by the addresses of its endpoints (there is no
// kube-proxy, so a Service name resolves to the pods behind it, ready ones only unless
// the Service publishes not-ready addresses).

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

type hostsWriter struct {
	c      config
	client kubernetes.Interface
}

func newHostsWriter(c config, client kubernetes.Interface) *hostsWriter {
	return &hostsWriter{c: c, client: client}
}

func (h *hostsWriter) run(ctx context.Context) {
	f := informers.NewSharedInformerFactory(h.client, time.Minute)
	pods := f.Core().V1().Pods()
	svcs := f.Core().V1().Services()
	slices := f.Discovery().V1().EndpointSlices()
	dirty := make(chan struct{}, 1)
	mark := func() {
		select {
		case dirty <- struct{}{}:
		default:
		}
	}
	handler := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { mark() },
		UpdateFunc: func(any, any) { mark() },
		DeleteFunc: func(any) { mark() },
	}
	for _, inf := range []cache.SharedIndexInformer{pods.Informer(), svcs.Informer(), slices.Informer()} {
		_, _ = inf.AddEventHandler(handler)
	}
	f.Start(ctx.Done())
	f.WaitForCacheSync(ctx.Done())
	last := ""
	for {
		select {
		case <-ctx.Done():
			return
		case <-dirty:
		}
		text, err := h.render(pods.Lister().List, svcs.Lister().List, slices.Lister().List)
		if err != nil {
			klog.Errorf("hosts file: %v", err)
			continue
		}
		if text == last {
			continue
		}
		if err := writeInPlace(filepath.Join(h.c.state, "hosts"), text); err != nil {
			klog.Errorf("hosts file: %v", err)
			continue
		}
		last = text
	}
}

func (h *hostsWriter) render(
	listPods func(labels.Selector) ([]*corev1.Pod, error),
	listSvcs func(labels.Selector) ([]*corev1.Service, error),
	listSlices func(labels.Selector) ([]*discoveryv1.EndpointSlice, error),
) (string, error) {
	pods, err := listPods(labels.Everything())
	if err != nil {
		return "", err
	}
	svcs, err := listSvcs(labels.Everything())
	if err != nil {
		return "", err
	}
	slices, err := listSlices(labels.Everything())
	if err != nil {
		return "", err
	}
	var lines []string
	for _, p := range pods {
		ip := p.Status.PodIP
		if ip == "" || p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		if p.Spec.Hostname != "" && p.Spec.Subdomain != "" {
			fq := fmt.Sprintf("%s.%s.%s.svc", p.Spec.Hostname, p.Spec.Subdomain, p.Namespace)
			lines = append(lines, fmt.Sprintf("%s %s.cluster.local %s", ip, fq, fq))
		}
		lines = append(lines, fmt.Sprintf("%s %s.%s.pod.cluster.local", ip, strings.ReplaceAll(ip, ".", "-"), p.Namespace))
	}
	publish := map[string]bool{}
	for _, s := range svcs {
		publish[s.Namespace+"/"+s.Name] = s.Spec.PublishNotReadyAddresses
	}
	seen := map[string]bool{}
	for _, sl := range slices {
		svc := sl.Labels[discoveryv1.LabelServiceName]
		if svc == "" || (sl.Namespace == "default" && svc == "kubernetes") {
			continue
		}
		for _, ep := range sl.Endpoints {
			ready := ep.Conditions.Ready == nil || *ep.Conditions.Ready
			if !ready && !publish[sl.Namespace+"/"+svc] {
				continue
			}
			for _, ip := range ep.Addresses {
				fq := fmt.Sprintf("%s.%s.svc", svc, sl.Namespace)
				line := fmt.Sprintf("%s %s.cluster.local %s", ip, fq, fq)
				if !seen[line] {
					seen[line] = true
					lines = append(lines, line)
				}
			}
		}
	}
	sort.Strings(lines)
	return hostsHeader(h.c) + strings.Join(lines, "\n") + "\n", nil
}

// writeInPlace replaces the hosts file's content without ever showing a reader an empty
// or shortened file. Not renamed over: containers bind mount this very inode. Not
// truncated either (os.WriteFile opens with O_TRUNC): a resolver reading between the
// truncate and the write found no name at all, and the file is rewritten whenever a pod
// starts — just as that pod's first lookup runs (kcat then exits on "all brokers down").
// One write at offset 0, padded with blank lines to at least the old length, so the file
// never shrinks.
func writeInPlace(path, text string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	if pad := st.Size() - int64(len(text)); pad > 0 {
		text += strings.Repeat("\n", int(pad))
	}
	if _, err := f.WriteAt([]byte(text), 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
