// Command nodeagent is a Kubernetes node for the e2e suite, built on virtual-kubelet:
// its provider runs each pod's containers as local processes, each pod in a network
// namespace of its own on a host bridge, each container in its own mount namespace with
// the image's root filesystem (an overlay over an unpacked image) and its volumes bind
// mounted at their mountPath. See e2e/README.md for what it does and does not do.
//
//	nodeagent --name zone-a --zone zone-a --kubeconfig ... --state DIR ...
//	nodeagent container-init ...   (internal: the first process of a container)
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/sirupsen/logrus"
	vklog "github.com/virtual-kubelet/virtual-kubelet/log"
	vklogrus "github.com/virtual-kubelet/virtual-kubelet/log/logrus"
	"github.com/virtual-kubelet/virtual-kubelet/node"
	"github.com/virtual-kubelet/virtual-kubelet/node/nodeutil"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// config is what one agent was started with.
type config struct {
	name       string // node name
	zone       string // topology.kubernetes.io/zone label
	kubeconfig string
	listen     string // host:port of the logs endpoint the API server calls
	tlsCert    string
	tlsKey     string
	caFile     string // CA bundle written into service-account token volumes
	podSubnet  string // this node's pod addresses, e.g. 10.244.1.0/24
	gateway    string // the bridge's address: default route and API server host
	bridge     string
	apiserver  string // host:port pods reach the API server at
	state      string // runtime directory shared by the agents
	images     string // image=rootfs mappings given on the command line
	manageHost bool   // this agent writes the shared hosts file
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "container-init" {
		containerInit(os.Args[2:])
		return
	}
	var c config
	flag.StringVar(&c.name, "name", "", "node name")
	flag.StringVar(&c.zone, "zone", "", "topology.kubernetes.io/zone of the node")
	flag.StringVar(&c.kubeconfig, "kubeconfig", "", "kubeconfig of the node's identity")
	flag.StringVar(&c.listen, "listen", "127.0.0.1:10250", "address of the kubelet API (logs)")
	flag.StringVar(&c.tlsCert, "tls-cert", "", "serving certificate of the kubelet API")
	flag.StringVar(&c.tlsKey, "tls-key", "", "serving key of the kubelet API")
	flag.StringVar(&c.caFile, "ca", "", "cluster CA, written as ca.crt in token volumes")
	flag.StringVar(&c.podSubnet, "pod-subnet", "10.244.1.0/24", "pod addresses of this node")
	flag.StringVar(&c.gateway, "gateway", "10.244.0.1", "the bridge's address")
	flag.StringVar(&c.bridge, "bridge", "tw0", "the host bridge pods attach to")
	flag.StringVar(&c.apiserver, "apiserver", "10.244.0.1:6443", "API server address for pods")
	flag.StringVar(&c.state, "state", "/tmp/tidewater-e2e", "runtime state directory")
	flag.StringVar(&c.images, "images", "", "image=rootfs[#uid:gid],... ('host' runs on /)")
	flag.BoolVar(&c.manageHost, "manage-hosts", false, "write the shared hosts file")
	flag.Parse()
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "nodeagent:", err)
		os.Exit(1)
	}
}

func run(c config) error {
	if c.name == "" || c.kubeconfig == "" {
		return fmt.Errorf("--name and --kubeconfig are required")
	}
	restCfg, err := clientcmd.BuildConfigFromFlags("", c.kubeconfig)
	if err != nil {
		return fmt.Errorf("reading %s: %w", c.kubeconfig, err)
	}
	client, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return err
	}
	// virtual-kubelet logs nothing unless given a logger.
	logger := logrus.StandardLogger()
	logger.SetLevel(logrus.InfoLevel)
	vklog.L = vklogrus.FromLogrus(logrus.NewEntry(logger))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	host, portText, err := net.SplitHostPort(c.listen)
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return fmt.Errorf("--listen port: %w", err)
	}
	cert, err := tls.LoadX509KeyPair(c.tlsCert, c.tlsKey)
	if err != nil {
		return fmt.Errorf("kubelet serving certificate: %w", err)
	}

	var prov *provider
	mux := http.NewServeMux()
	n, err := nodeutil.NewNode(c.name, func(pc nodeutil.ProviderConfig) (nodeutil.Provider, node.NodeProvider, error) {
		prov, err = newProvider(ctx, c, client, pc)
		if err != nil {
			return nil, nil, err
		}
		describeNode(pc.Node, c, host, int32(port))
		return prov, nil, nil
	},
		nodeutil.WithClient(client),
		nodeutil.AttachProviderRoutes(mux),
		func(nc *nodeutil.NodeConfig) error {
			nc.HTTPListenAddr = c.listen
			nc.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
			// Loopback only: the API server is the one caller (kubectl logs).
			nc.Handler = mux
			nc.NumWorkers = 4
			return nil
		},
	)
	if err != nil {
		return err
	}
	go newVolumeProvisioner(c, client).run(ctx)
	if c.manageHost {
		go newHostsWriter(c, client).run(ctx)
	}
	err = n.Run(ctx)
	// Whatever ended the node, its containers end with it.
	prov.shutdown()
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// describeNode fills in what the scheduler and the API server read from a node.
func describeNode(n *corev1.Node, c config, host string, port int32) {
	// NodeRestriction refuses a node setting kubernetes.io/role on itself.
	delete(n.Labels, "kubernetes.io/role")
	n.Labels["topology.kubernetes.io/zone"] = c.zone
	n.Labels["kubernetes.io/os"] = "linux"
	n.Labels["kubernetes.io/arch"] = "amd64"
	n.Labels["node.tidewater.io/agent"] = "process"
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:              resource.MustParse("16"),
		corev1.ResourceMemory:           resource.MustParse("64Gi"),
		corev1.ResourcePods:             resource.MustParse("110"),
		corev1.ResourceEphemeralStorage: resource.MustParse("100Gi"),
	}
	n.Status.Capacity = capacity
	n.Status.Allocatable = capacity
	n.Status.Addresses = []corev1.NodeAddress{
		{Type: corev1.NodeInternalIP, Address: host},
		{Type: corev1.NodeHostName, Address: c.name},
	}
	n.Status.DaemonEndpoints.KubeletEndpoint.Port = port
	n.Status.NodeInfo.OperatingSystem = "linux"
	n.Status.NodeInfo.Architecture = "amd64"
	n.Status.NodeInfo.KubeletVersion = "v1.37.2"
	n.Status.NodeInfo.ContainerRuntimeVersion = "tidewater-nodeagent://processes"
	n.Spec.PodCIDR = c.podSubnet
	n.Spec.PodCIDRs = []string{c.podSubnet}
}
