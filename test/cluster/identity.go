package cluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"
)

// ManagerConfig gives Flotilla's manager the identity it has when installed: a ServiceAccount in
// namespace bound to the ClusterRole and leader-election Role generated from the kubebuilder RBAC
// markers (config/rbac). A manager started with it fails its tests if the markers miss a
// permission the code uses. The leader-election Role is bound in leaseNamespace, the generated
// namespaced Role (the data-plane report Leases) in namespace.
func (c *Cluster) ManagerConfig(ctx context.Context, namespace, leaseNamespace string) (*rest.Config, error) {
	cs, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return nil, err
	}
	rbacDir := filepath.Join(RepoRoot(), "config", "rbac")
	var role rbacv1.ClusterRole
	var nsRole *rbacv1.Role
	docs, err := readYAMLDocs(filepath.Join(rbacDir, "role.yaml"))
	if err != nil {
		return nil, err
	}
	for _, doc := range docs {
		var meta metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			return nil, err
		}
		switch meta.Kind {
		case "ClusterRole":
			err = yaml.Unmarshal(doc, &role)
		case "Role":
			nsRole = &rbacv1.Role{}
			err = yaml.Unmarshal(doc, nsRole)
		}
		if err != nil {
			return nil, err
		}
	}
	var leRole rbacv1.Role
	if err := readYAML(filepath.Join(rbacDir, "leader_election_role.yaml"), &leRole); err != nil {
		return nil, err
	}
	role.Name, leRole.Name, leRole.Namespace = "flotilla-manager-role", "flotilla-leader-election", leaseNamespace
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "flotilla-controller-manager", Namespace: namespace}}
	subject := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: sa.Name, Namespace: namespace}}
	if _, err := cs.CoreV1().ServiceAccounts(namespace).Create(ctx, sa, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("creating the manager's ServiceAccount: %w", err)
	}
	if _, err := cs.RbacV1().ClusterRoles().Create(ctx, &role, metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: role.Name}, Subjects: subject,
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
	}, metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	if nsRole != nil {
		nsRole.Name, nsRole.Namespace = "flotilla-manager-role", namespace
		if _, err := cs.RbacV1().Roles(namespace).Create(ctx, nsRole, metav1.CreateOptions{}); err != nil {
			return nil, err
		}
		if _, err := cs.RbacV1().RoleBindings(namespace).Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: nsRole.Name, Namespace: namespace}, Subjects: subject,
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: nsRole.Name},
		}, metav1.CreateOptions{}); err != nil {
			return nil, err
		}
	}
	if _, err := cs.RbacV1().Roles(leaseNamespace).Create(ctx, &leRole, metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	if _, err := cs.RbacV1().RoleBindings(leaseNamespace).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: leRole.Name, Namespace: leaseNamespace}, Subjects: subject,
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: leRole.Name},
	}, metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	tok, err := cs.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, sa.Name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](24 * 3600)},
	}, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("requesting a token for the manager: %w", err)
	}
	cfg := rest.AnonymousClientConfig(c.Config)
	cfg.BearerToken = tok.Status.Token
	return cfg, nil
}

// readYAMLDocs splits a multi-document YAML file.
func readYAMLDocs(path string) ([][]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for _, doc := range strings.Split(string(b), "\n---\n") {
		if strings.TrimSpace(doc) != "" {
			out = append(out, []byte(doc))
		}
	}
	return out, nil
}

func readYAML(path string, into any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := yaml.Unmarshal(b, into); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
