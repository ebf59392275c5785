// Command bundle writes Flotilla's OLM bundle (bundle/) from config/: it reads `kustomize build
// config/default` on stdin, the CSV base in config/manifests/bases and the samples, and writes the
// ClusterServiceVersion, Flotilla's own CRDs, the extra objects OLM may carry, the bundle metadata and
// the scorecard config. Output is deterministic, so CI can fail when `make bundle` leaves a diff.
//
//	kustomize build config/default | go run ./hack/bundle -version 0.1.0 -image ghcr.io/flotilla-dev/flotilla:v0.1.0
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"github.com/flotilla-dev/flotilla/hack/manifests"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/blang/semver/v4"
	operatorversion "github.com/operator-framework/api/pkg/lib/version"
	operatorsv1alpha1 "github.com/operator-framework/api/pkg/operators/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/flotilla-dev/flotilla/internal/operator"
)

const packageName = "flotilla"

func main() {
	version := flag.String("version", "0.1.0", "Bundle (operator) version.")
	image := flag.String("image", "ghcr.io/flotilla-dev/flotilla:v0.1.0", "Manager image.")
	channel := flag.String("channel", "candidate", "OLM channel (OLM naming convention: candidate, fast, stable).")
	out := flag.String("out", "bundle", "Output directory.")
	flag.Parse()
	if err := run(os.Stdin, *version, *image, *channel, *out); err != nil {
		fmt.Fprintln(os.Stderr, "bundle:", err)
		os.Exit(1)
	}
}

func run(in io.Reader, version, image, channel, out string) error {
	objs, err := manifests.DecodeAll(in)
	if err != nil {
		return err
	}
	csv := &operatorsv1alpha1.ClusterServiceVersion{}
	if err := readYAML("config/manifests/bases/flotilla.clusterserviceversion.yaml", csv); err != nil {
		return err
	}
	examples, err := almExamples("config/samples", "gateway.flotilla.dev")
	if err != nil {
		return err
	}
	csv.Name = packageName + ".v" + version
	v, err := semver.Parse(version)
	if err != nil {
		return fmt.Errorf("version %q: %w", version, err)
	}
	csv.Spec.Version = operatorversion.OperatorVersion{Version: v}
	csv.Annotations["containerImage"] = image
	csv.Annotations["alm-examples"] = examples
	csv.Spec.RelatedImages = []operatorsv1alpha1.RelatedImage{
		{Name: "manager", Image: image},
		{Name: "envoy", Image: operator.DefaultEnvoyImage},
	}

	manifests := filepath.Join(out, "manifests")
	if err := os.RemoveAll(manifests); err != nil {
		return err
	}
	if err := os.MkdirAll(manifests, 0o755); err != nil {
		return err
	}
	strategy := operatorsv1alpha1.StrategyDetailsDeployment{}
	var extra []*unstructured.Unstructured
	boundSA := map[string]bool{} // roles bound to the manager's ServiceAccount go into the CSV
	roles := map[string]*unstructured.Unstructured{}
	for _, o := range objs {
		switch o.GetKind() {
		case "ClusterRoleBinding", "RoleBinding":
			var b rbacv1.RoleBinding
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &b); err != nil {
				return err
			}
			boundSA[b.RoleRef.Kind+"/"+b.RoleRef.Name] = true
		case "ClusterRole", "Role":
			roles[o.GetKind()+"/"+o.GetName()] = o
		}
	}
	var saName string
	for _, o := range objs {
		switch o.GetKind() {
		case "Namespace":
			// OLM installs into the namespace of the Subscription's OperatorGroup.
		case "CustomResourceDefinition":
			plural, group, _ := strings.Cut(o.GetName(), ".")
			if err := writeObject(filepath.Join(manifests, group+"_"+plural+".yaml"), o.Object); err != nil {
				return err
			}
		case "ServiceAccount":
			saName = o.GetName()
		case "Deployment":
			var d appsv1.Deployment
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &d); err != nil {
				return err
			}
			d.Spec.Template.Spec.Containers[0].Image = image
			strategy.DeploymentSpecs = append(strategy.DeploymentSpecs, operatorsv1alpha1.StrategyDeploymentSpec{
				Name: d.Name, Label: d.Labels, Spec: d.Spec})
		case "ClusterRole", "Role":
			key := o.GetKind() + "/" + o.GetName()
			if !boundSA[key] {
				extra = append(extra, o) // user-facing roles (FleetConfig editor, metrics reader...)
				continue
			}
			var r rbacv1.ClusterRole
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &r); err != nil {
				return err
			}
			perm := operatorsv1alpha1.StrategyDeploymentPermissions{Rules: r.Rules}
			if o.GetKind() == "ClusterRole" {
				strategy.ClusterPermissions = append(strategy.ClusterPermissions, perm)
			} else {
				strategy.Permissions = append(strategy.Permissions, perm)
			}
		case "ClusterRoleBinding", "RoleBinding":
			// OLM binds the permissions above to the ServiceAccount itself.
		case "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding":
			// config/admission. registry+v1 bundles carry only the kinds operator-registry supports
			// (pkg/lib/bundle/supported_resources.go), and these are not among them: an OLM install
			// applies config/admission separately (README, docs/ingress-admission.md).
		default:
			extra = append(extra, o) // Services
		}
	}
	if saName == "" || len(strategy.DeploymentSpecs) != 1 {
		return errors.New("config/default must hold one ServiceAccount and one Deployment")
	}
	for i := range strategy.ClusterPermissions {
		strategy.ClusterPermissions[i].ServiceAccountName = saName
	}
	for i := range strategy.Permissions {
		strategy.Permissions[i].ServiceAccountName = saName
	}
	csv.Spec.InstallStrategy = operatorsv1alpha1.NamedInstallStrategy{
		StrategyName: operatorsv1alpha1.InstallStrategyNameDeployment, StrategySpec: strategy}
	for _, o := range extra {
		o.SetNamespace("")
		name := fmt.Sprintf("%s_%s_%s.yaml", o.GetName(), strings.ReplaceAll(o.GetAPIVersion(), "/", "_"), strings.ToLower(o.GetKind()))
		if err := writeObject(filepath.Join(manifests, name), o.Object); err != nil {
			return err
		}
	}
	raw, err := json.Marshal(csv) // not the unstructured converter: OperatorVersion marshals itself
	if err != nil {
		return err
	}
	var csvObj map[string]any
	if err := json.Unmarshal(raw, &csvObj); err != nil {
		return err
	}
	delete(csvObj, "status")
	csvObj["apiVersion"], csvObj["kind"] = operatorsv1alpha1.SchemeGroupVersion.String(), operatorsv1alpha1.ClusterServiceVersionKind
	if err := writeObject(filepath.Join(manifests, packageName+".clusterserviceversion.yaml"), csvObj); err != nil {
		return err
	}
	return writeMetadata(out, channel)
}

// almExamples is the JSON array of the sample objects of the given API group.
func almExamples(dir, group string) (string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return "", err
	}
	sort.Strings(files)
	var examples []map[string]any
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		objs, err := manifests.DecodeAll(bytes.NewReader(b))
		if err != nil {
			return "", fmt.Errorf("%s: %w", f, err)
		}
		for _, o := range objs {
			if o.GroupVersionKind().Group == group {
				examples = append(examples, o.Object)
			}
		}
	}
	b, err := json.MarshalIndent(examples, "", "  ")
	return string(b), err
}

func readYAML(path string, into any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return yaml.UnmarshalStrict(b, into)
}

func writeObject(path string, obj map[string]any) error {
	prune(obj)
	b, err := yaml.Marshal(obj)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// prune removes the nulls typed objects carry for unset fields (creationTimestamp: null).
func prune(m map[string]any) {
	for k, v := range m {
		switch t := v.(type) {
		case nil:
			delete(m, k)
		case map[string]any:
			prune(t)
			if len(t) == 0 {
				delete(m, k)
			}
		case []any:
			for _, e := range t {
				if em, ok := e.(map[string]any); ok {
					prune(em)
				}
			}
		}
	}
}

func writeMetadata(out, channel string) error {
	labels := [][2]string{
		{"operators.operatorframework.io.bundle.mediatype.v1", "registry+v1"},
		{"operators.operatorframework.io.bundle.manifests.v1", "manifests/"},
		{"operators.operatorframework.io.bundle.metadata.v1", "metadata/"},
		{"operators.operatorframework.io.bundle.package.v1", packageName},
		{"operators.operatorframework.io.bundle.channels.v1", channel},
		{"operators.operatorframework.io.bundle.channel.default.v1", channel},
		{"operators.operatorframework.io.test.mediatype.v1", "scorecard+v1"},
		{"operators.operatorframework.io.test.config.v1", "tests/scorecard/"},
	}
	var ann, docker strings.Builder
	ann.WriteString("annotations:\n")
	docker.WriteString("# Generated by `make bundle`; builds the OLM bundle image.\nFROM scratch\n\n")
	for _, l := range labels {
		fmt.Fprintf(&ann, "  %s: %s\n", l[0], l[1])
		fmt.Fprintf(&docker, "LABEL %s=%s\n", l[0], l[1])
	}
	docker.WriteString("\nCOPY bundle/manifests /manifests/\nCOPY bundle/metadata /metadata/\nCOPY bundle/tests/scorecard /tests/scorecard/\n")
	if err := os.MkdirAll(filepath.Join(out, "metadata"), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "metadata", "annotations.yaml"), []byte(ann.String()), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile("bundle.Dockerfile", []byte(docker.String()), 0o644); err != nil {
		return err
	}
	scorecard, err := os.ReadFile("config/scorecard/config.yaml")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(out, "tests", "scorecard"), 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(out, "tests", "scorecard", "config.yaml"), scorecard, 0o644)
}
