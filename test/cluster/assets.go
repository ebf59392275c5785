package cluster

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// RepoRoot is the root of the Flotilla checkout this package was built from.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// cachedDirs asks hack/cluster-bins.sh (the one place that knows the versions) where the cached
// binaries live: the Kubernetes binaries' directory (KUBEBUILDER_ASSETS when set), KWOK's and
// lwepp's. It builds nothing.
func cachedDirs() (k8sDir, kwokDir, lweppDir string, err error) {
	f, err := cachePaths()
	if err != nil {
		return "", "", "", err
	}
	return f[0], f[1], f[2], nil
}

// cachePaths are the four directories hack/cluster-bins.sh prints: Kubernetes (KUBEBUILDER_ASSETS
// when set), KWOK, lwepp and oauth2-proxy.
func cachePaths() ([]string, error) {
	out, err := exec.Command(filepath.Join(RepoRoot(), "hack", "cluster-bins.sh"), "paths").Output()
	if err != nil {
		return nil, fmt.Errorf("hack/cluster-bins.sh paths: %w", err)
	}
	f := strings.Fields(string(out))
	if len(f) != 4 {
		return nil, fmt.Errorf("hack/cluster-bins.sh paths printed %q", out)
	}
	if a := os.Getenv("KUBEBUILDER_ASSETS"); a != "" {
		f[0] = a
	}
	return f, nil
}

// OAuth2ProxyBinary is the cached oauth2-proxy, built by hack/cluster-bins.sh like lwepp; missing
// is an error (make test builds it), never a reason to skip.
func OAuth2ProxyBinary() (string, error) {
	f, err := cachePaths()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(f[3], "oauth2-proxy")
	return bin, mustExist(bin)
}

// mustExist fails with how to build the missing binary.
func mustExist(paths ...string) error {
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("%s is missing: run `make cluster-bins` (or `make test`) first: %w", p, err)
		}
	}
	return nil
}

// binDirs returns the directories of the control plane's binaries, checking they are all there.
func binDirs() (k8sDir, kwokDir string, err error) {
	k8sDir, kwokDir, _, err = cachedDirs()
	if err != nil {
		return "", "", err
	}
	if err := mustExist(
		filepath.Join(k8sDir, "kube-apiserver"), filepath.Join(k8sDir, "etcd"),
		filepath.Join(k8sDir, "kube-controller-manager"), filepath.Join(k8sDir, "kube-scheduler"),
		filepath.Join(kwokDir, "kwok"),
	); err != nil {
		return "", "", err
	}
	return k8sDir, kwokDir, nil
}

// LWEPPBinary is the cached lwepp, the Gateway API Inference Extension's conformance Endpoint
// Picker, built by hack/cluster-bins.sh like KWOK. It is an error, not a reason to skip, when it is
// missing: `make test` builds it.
func LWEPPBinary() (string, error) {
	_, _, dir, err := cachedDirs()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "lwepp")
	return bin, mustExist(bin)
}

// moduleDir returns the module cache directory of a module, resolved in the module at dir, so the
// CRDs installed are exactly those of the versions go.mod pins (never copies in the repository).
func moduleDir(dir, module string) (string, error) {
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", module)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go list -m %s: %w: %s", module, err, stderr.String())
	}
	return strings.TrimSpace(string(out)), nil
}

// CRDPaths lists the CRD files the test cluster installs: Flotilla's own, Gateway API's experimental
// channel (later work uses its fields; the standard channel has the same CRD names, so a cluster
// holds one or the other), the Inference Extension's and cert-manager's Certificate and issuers.
func CRDPaths() ([]string, error) {
	root := RepoRoot()
	paths := []string{filepath.Join(root, "config", "crd", "bases")}
	gw, err := moduleDir(root, "sigs.k8s.io/gateway-api")
	if err != nil {
		return nil, err
	}
	files, err := filepath.Glob(filepath.Join(gw, "config", "crd", "experimental", "gateway.networking.*.yaml"))
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		// The ValidatingAdmissionPolicy that guards upgrades is not a CRD.
		if !strings.Contains(filepath.Base(f), "_vap_") {
			paths = append(paths, f)
		}
	}
	gie, err := moduleDir(root, "sigs.k8s.io/gateway-api-inference-extension")
	if err != nil {
		return nil, err
	}
	paths = append(paths, filepath.Join(gie, "config", "crd", "bases"))
	// cert-manager's issuers and Certificates, for FleetClasses that name a cert-manager issuer
	// (nothing issues them here: tests play cert-manager's part by filling the Secret).
	cm, err := moduleDir(root, "github.com/cert-manager/cert-manager")
	if err != nil {
		return nil, err
	}
	for _, f := range []string{"cert-manager.io_certificates.yaml", "cert-manager.io_issuers.yaml", "cert-manager.io_clusterissuers.yaml"} {
		paths = append(paths, filepath.Join(cm, "deploy", "crds", f))
	}
	return paths, nil
}

// kwokStages writes the stage set kwokctl uses (fast node and pod lifecycles, node heartbeats with
// leases, pod deletion so garbage collection completes without a kubelet) into one config file.
func kwokStages(dir string) (string, error) {
	kwokMod, err := moduleDir(filepath.Join(RepoRoot(), "hack", "tools", "kwok"), "sigs.k8s.io/kwok")
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	for _, f := range []string{
		"node/fast/node-initialize.yaml",
		"node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
		"pod/fast/pod-ready.yaml",
		"pod/fast/pod-complete.yaml",
		"pod/fast/pod-delete.yaml",
	} {
		b, err := os.ReadFile(filepath.Join(kwokMod, "kustomize", "stage", f))
		if err != nil {
			return "", fmt.Errorf("reading KWOK stage: %w", err)
		}
		buf.WriteString("---\n")
		buf.Write(b)
		buf.WriteString("\n")
	}
	p := filepath.Join(dir, "kwok-stages.yaml")
	return p, os.WriteFile(p, buf.Bytes(), 0o600)
}

// FlotillaCRDCount is how many CRDs controller-gen writes to config/crd/bases: every install
// (kustomize, OLM bundle, Helm chart) must carry exactly these.
func FlotillaCRDCount() (int, error) {
	files, err := filepath.Glob(filepath.Join(RepoRoot(), "config", "crd", "bases", "*.yaml"))
	if err != nil {
		return 0, err
	}
	if len(files) == 0 {
		return 0, fmt.Errorf("no CRDs in config/crd/bases (run make manifests)")
	}
	return len(files), nil
}
