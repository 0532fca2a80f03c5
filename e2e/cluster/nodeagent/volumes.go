package main

// Volumes: ConfigMap, Secret, downward API and projected (service-account token)
// volumes are written as files under the pod's directory; emptyDir is a directory
// there; a PersistentVolumeClaim is the host directory of its PersistentVolume, which
// this node's provisioner created under state/volumes and which outlives the pod.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

const provisionerName = "tidewater.io/node-local"

func (r *podRun) setupVolumes() error {
	ctx, cancel := context.WithTimeout(r.ctx, 30*time.Second)
	defer cancel()
	pod := r.pod
	var fsGroup *int64
	if pod.Spec.SecurityContext != nil {
		fsGroup = pod.Spec.SecurityContext.FSGroup
	}
	for _, v := range pod.Spec.Volumes {
		dir := filepath.Join(r.dir, "volumes", v.Name)
		var files map[string][]byte
		var mode int32 = 0o644
		var err error
		switch {
		case v.ConfigMap != nil:
			files, err = r.configMapFiles(ctx, v.ConfigMap.Name, v.ConfigMap.Items, v.ConfigMap.Optional)
			mode = modeOr(v.ConfigMap.DefaultMode, mode)
		case v.Secret != nil:
			files, err = r.secretFiles(ctx, v.Secret.SecretName, v.Secret.Items, v.Secret.Optional)
			mode = modeOr(v.Secret.DefaultMode, mode)
		case v.DownwardAPI != nil:
			files = map[string][]byte{}
			err = r.downwardFiles(files, v.DownwardAPI.Items)
			mode = modeOr(v.DownwardAPI.DefaultMode, mode)
		case v.Projected != nil:
			files, err = r.projectedFiles(ctx, v.Projected)
			mode = modeOr(v.Projected.DefaultMode, mode)
		case v.EmptyDir != nil:
			err = os.MkdirAll(dir, 0o777)
			if err == nil {
				err = os.Chmod(dir, 0o777)
			}
		case v.HostPath != nil:
			dir = v.HostPath.Path
		case v.PersistentVolumeClaim != nil:
			dir, err = r.claimDir(ctx, v.PersistentVolumeClaim.ClaimName, fsGroup)
		default:
			err = fmt.Errorf("volume %s: this node agent does not support its type", v.Name)
		}
		if err != nil {
			return fmt.Errorf("volume %s: %w", v.Name, err)
		}
		if files != nil {
			if err := writeFiles(dir, files, mode, fsGroup); err != nil {
				return fmt.Errorf("volume %s: %w", v.Name, err)
			}
		}
		r.mu.Lock()
		r.volumes[v.Name] = dir
		r.mu.Unlock()
	}
	return nil
}

func modeOr(m *int32, def int32) int32 {
	if m != nil {
		return *m
	}
	return def
}

func writeFiles(dir string, files map[string][]byte, mode int32, fsGroup *int64) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, name := range sortedKeys(files) {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, files[name], os.FileMode(mode)); err != nil {
			return err
		}
		if err := os.Chmod(path, os.FileMode(mode)); err != nil {
			return err
		}
		if fsGroup != nil {
			if err := os.Chown(path, 0, int(*fsGroup)); err != nil {
				return err
			}
		}
	}
	return nil
}

func pick(data map[string][]byte, items []corev1.KeyToPath) (map[string][]byte, error) {
	if len(items) == 0 {
		return data, nil
	}
	out := map[string][]byte{}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			return nil, fmt.Errorf("key %q not found", it.Key)
		}
		out[it.Path] = v
	}
	return out, nil
}

func (r *podRun) configMapFiles(ctx context.Context, name string, items []corev1.KeyToPath, optional *bool) (map[string][]byte, error) {
	cm, err := r.p.client.CoreV1().ConfigMaps(r.pod.Namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) && optional != nil && *optional {
		return map[string][]byte{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("config map %s: %w", name, err)
	}
	data := map[string][]byte{}
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	return pick(data, items)
}

func (r *podRun) secretFiles(ctx context.Context, name string, items []corev1.KeyToPath, optional *bool) (map[string][]byte, error) {
	s, err := r.p.client.CoreV1().Secrets(r.pod.Namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) && optional != nil && *optional {
		return map[string][]byte{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("secret %s: %w", name, err)
	}
	return pick(s.Data, items)
}

func (r *podRun) downwardFiles(out map[string][]byte, items []corev1.DownwardAPIVolumeFile) error {
	for _, it := range items {
		if it.FieldRef == nil {
			return fmt.Errorf("downward API file %s: only fieldRef is supported", it.Path)
		}
		var v string
		switch it.FieldRef.FieldPath {
		case "metadata.name":
			v = r.pod.Name
		case "metadata.namespace":
			v = r.pod.Namespace
		case "metadata.uid":
			v = string(r.pod.UID)
		case "spec.nodeName":
			v = r.pod.Spec.NodeName
		case "spec.serviceAccountName":
			v = r.pod.Spec.ServiceAccountName
		default:
			return fmt.Errorf("downward API field %s is not supported", it.FieldRef.FieldPath)
		}
		out[it.Path] = []byte(v)
	}
	return nil
}

// projectedFiles: a service-account token from the TokenRequest API, bound to this pod
// (what the API server's admission puts in every pod as kube-api-access-*).
func (r *podRun) projectedFiles(ctx context.Context, v *corev1.ProjectedVolumeSource) (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, src := range v.Sources {
		switch {
		case src.ServiceAccountToken != nil:
			t := src.ServiceAccountToken
			exp := int64(3600)
			if t.ExpirationSeconds != nil {
				exp = *t.ExpirationSeconds
			}
			req := &authv1.TokenRequest{Spec: authv1.TokenRequestSpec{
				ExpirationSeconds: &exp,
				BoundObjectRef: &authv1.BoundObjectReference{
					Kind: "Pod", APIVersion: "v1", Name: r.pod.Name, UID: r.pod.UID,
				},
			}}
			if t.Audience != "" {
				req.Spec.Audiences = []string{t.Audience}
			}
			sa := r.pod.Spec.ServiceAccountName
			if sa == "" {
				sa = "default"
			}
			tok, err := r.p.client.CoreV1().ServiceAccounts(r.pod.Namespace).CreateToken(ctx, sa, req, metav1.CreateOptions{})
			if err != nil {
				return nil, fmt.Errorf("token of service account %s: %w", sa, err)
			}
			out[t.Path] = []byte(tok.Status.Token)
		case src.ConfigMap != nil:
			files, err := r.configMapFiles(ctx, src.ConfigMap.Name, src.ConfigMap.Items, src.ConfigMap.Optional)
			if err != nil {
				return nil, err
			}
			for k, v := range files {
				out[k] = v
			}
		case src.Secret != nil:
			files, err := r.secretFiles(ctx, src.Secret.Name, src.Secret.Items, src.Secret.Optional)
			if err != nil {
				return nil, err
			}
			for k, v := range files {
				out[k] = v
			}
		case src.DownwardAPI != nil:
			if err := r.downwardFiles(out, src.DownwardAPI.Items); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// claimDir is the host directory of a bound claim, group-owned by fsGroup as a kubelet
// makes a volume that supports ownership management.
func (r *podRun) claimDir(ctx context.Context, claim string, fsGroup *int64) (string, error) {
	pvc, err := r.p.client.CoreV1().PersistentVolumeClaims(r.pod.Namespace).Get(ctx, claim, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("claim %s: %w", claim, err)
	}
	if pvc.Spec.VolumeName == "" {
		return "", fmt.Errorf("claim %s is not bound yet", claim)
	}
	pv, err := r.p.client.CoreV1().PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("volume %s: %w", pvc.Spec.VolumeName, err)
	}
	if pv.Spec.HostPath == nil {
		return "", fmt.Errorf("volume %s is not a host path", pv.Name)
	}
	dir := pv.Spec.HostPath.Path
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if fsGroup != nil {
		gid := int(*fsGroup)
		err := filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			if err := os.Lchown(path, -1, gid); err != nil {
				return err
			}
			if info.Mode()&os.ModeSymlink != 0 {
				return nil
			}
			mode := info.Mode() | 0o060
			if info.IsDir() {
				mode |= 0o010 | os.ModeSetgid
			}
			return os.Chmod(path, mode)
		})
		if err != nil {
			return "", fmt.Errorf("fsGroup ownership of %s: %w", dir, err)
		}
	}
	return dir, nil
}

// volumeProvisioner creates a hostPath PersistentVolume for each claim of the
// tidewater-local class that the scheduler placed on this node (WaitForFirstConsumer:
// the selected-node annotation), pre-bound to the claim.
type volumeProvisioner struct {
	c      config
	client kubernetes.Interface
}

func newVolumeProvisioner(c config, client kubernetes.Interface) *volumeProvisioner {
	return &volumeProvisioner{c: c, client: client}
}

func (v *volumeProvisioner) run(ctx context.Context) {
	f := informers.NewSharedInformerFactory(v.client, time.Minute)
	inf := f.Core().V1().PersistentVolumeClaims().Informer()
	handle := func(obj any) {
		if pvc, ok := obj.(*corev1.PersistentVolumeClaim); ok {
			v.provision(ctx, pvc)
		}
	}
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    handle,
		UpdateFunc: func(_, obj any) { handle(obj) },
	})
	f.Start(ctx.Done())
	<-ctx.Done()
}

func (v *volumeProvisioner) provision(ctx context.Context, pvc *corev1.PersistentVolumeClaim) {
	if pvc.Spec.VolumeName != "" || pvc.Annotations["volume.kubernetes.io/selected-node"] != v.c.name {
		return
	}
	if pvc.Annotations["volume.kubernetes.io/storage-provisioner"] != provisionerName &&
		pvc.Annotations["volume.beta.kubernetes.io/storage-provisioner"] != provisionerName {
		return
	}
	name := "pvc-" + string(pvc.UID)
	path := filepath.Join(v.c.state, "volumes", name)
	if err := os.MkdirAll(path, 0o755); err != nil {
		klog.Errorf("claim %s/%s: %v", pvc.Namespace, pvc.Name, err)
		return
	}
	class := ""
	if pvc.Spec.StorageClassName != nil {
		class = *pvc.Spec.StorageClassName
	}
	dirType := corev1.HostPathDirectory
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Annotations: map[string]string{"pv.kubernetes.io/provisioned-by": provisionerName},
		},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: pvc.Spec.Resources.Requests[corev1.ResourceStorage]},
			AccessModes:                   pvc.Spec.AccessModes,
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			StorageClassName:              class,
			VolumeMode:                    pvc.Spec.VolumeMode,
			ClaimRef: &corev1.ObjectReference{
				Kind: "PersistentVolumeClaim", APIVersion: "v1",
				Namespace: pvc.Namespace, Name: pvc.Name, UID: pvc.UID,
			},
			PersistentVolumeSource: corev1.PersistentVolumeSource{
				HostPath: &corev1.HostPathVolumeSource{Path: path, Type: &dirType},
			},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{
					Key: "kubernetes.io/hostname", Operator: corev1.NodeSelectorOpIn, Values: []string{v.c.name},
				}}}},
			}},
		},
	}
	_, err := v.client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		klog.Errorf("creating volume for claim %s/%s: %v", pvc.Namespace, pvc.Name, err)
		return
	}
	if err == nil {
		klog.Infof("provisioned %s at %s for claim %s/%s", name, path, pvc.Namespace, pvc.Name)
	}
}

// hostsHeader is the part of the shared hosts file that does not come from pods.
func hostsHeader(c config) string {
	host, _, _ := strings.Cut(c.apiserver, ":")
	return "127.0.0.1 localhost\n::1 localhost\n" +
		host + " kubernetes kubernetes.default kubernetes.default.svc kubernetes.default.svc.cluster.local\n"
}
