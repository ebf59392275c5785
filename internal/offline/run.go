package offline

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwfeatures "sigs.k8s.io/gateway-api/pkg/features"

	"github.com/flotilla-dev/flotilla/internal/controller"
	"github.com/flotilla-dev/flotilla/internal/features"
	"github.com/flotilla-dev/flotilla/internal/gatewayapi"
	"github.com/flotilla-dev/flotilla/internal/ingress"
	"github.com/flotilla-dev/flotilla/internal/xds/translate"
)

// Gateways returns the Gateways to translate, in input order: the one named ("ns/name", or "name"
// in DefaultNamespace), or, when name is empty, every Gateway of Flotilla's. skipped says which
// Gateways were left out and why. A named Gateway that is missing or not Flotilla's is an error.
func (s *Set) Gateways(name string) (gws []*gwapiv1.Gateway, skipped []string, err error) {
	if len(s.Docs.Gateways) == 0 {
		return nil, nil, fmt.Errorf("the input has no Gateway")
	}
	if name != "" {
		ns, n, ok := strings.Cut(name, "/")
		if !ok {
			ns, n = DefaultNamespace, name
		}
		for _, gw := range s.Docs.Gateways {
			if gw.Namespace == ns && gw.Name == n {
				if why := s.notOurs(gw); why != "" {
					return nil, nil, fmt.Errorf("gateway %s/%s: %s", ns, n, why)
				}
				return []*gwapiv1.Gateway{gw}, nil, nil
			}
		}
		return nil, nil, fmt.Errorf("gateway %s/%s is not in the input (it has %s)", ns, n, strings.Join(s.gatewayNames(), ", "))
	}
	for _, gw := range s.Docs.Gateways {
		if why := s.notOurs(gw); why != "" {
			skipped = append(skipped, fmt.Sprintf("skipped Gateway %s/%s: %s", gw.Namespace, gw.Name, why))
			continue
		}
		gws = append(gws, gw)
	}
	if len(gws) == 0 {
		return nil, skipped, fmt.Errorf("no Gateway of the input is Flotilla's (controllerName %s)", controller.ControllerName)
	}
	return gws, skipped, nil
}

// notOurs says why a Gateway is not Flotilla's: its GatewayClass is in the input with another
// controllerName. A Gateway whose class is not in the input is taken to be Flotilla's.
func (s *Set) notOurs(gw *gwapiv1.Gateway) string {
	cn, ok := s.Classes[string(gw.Spec.GatewayClassName)]
	if !ok || cn == controller.ControllerName {
		return ""
	}
	return fmt.Sprintf("its GatewayClass %s belongs to controller %s, not %s", gw.Spec.GatewayClassName, cn, controller.ControllerName)
}

func (s *Set) gatewayNames() []string {
	out := make([]string, 0, len(s.Docs.Gateways))
	for _, gw := range s.Docs.Gateways {
		out = append(out, gw.Namespace+"/"+gw.Name)
	}
	return out
}

// Input is what the controller gives Resolve for gw: every object read (Resolve ignores those that
// do not concern the Gateway), with the controller's name and features.
func (s *Set) Input(gw *gwapiv1.Gateway) gatewayapi.Input {
	in, _ := s.input(gw)
	return in
}

// input is Input and what the Ingress front end made of the input's Ingresses for gw.
func (s *Set) input(gw *gwapiv1.Gateway) (gatewayapi.Input, ingress.Result) {
	in := s.Docs.Input
	in.Gateway = gw
	in.ControllerName = controller.ControllerName
	in.TLSTerminate = features.Has(gwfeatures.SupportTLSRouteModeTerminate)
	conv := ingress.ForGateway(&in, s.Docs.IngressClasses, s.Docs.IngressClassConfigs, s.Docs.Ingresses)
	return in, conv
}

// Translation is one Gateway's resolution and translation.
type Translation struct {
	Gateway *gwapiv1.Gateway
	// Result is what Resolve decided: the fleet model and every status.
	Result gatewayapi.Result
	// Resources are the fleet's xDS; nil when translation failed.
	Resources *translate.Resources
	// TranslationError says why translation failed (a Flotilla bug); empty when it did not.
	TranslationError string
	// Notes say what the output owes to the offline setting (synthetic endpoints).
	Notes []string
	// Ingresses is what the Ingress front end made of the input's Ingresses: which are refused
	// and why, and the notes of the served ones.
	Ingresses ingress.Result
}

// Translate resolves and translates one Gateway of the set. An error is a translation failure (a
// Flotilla bug, which the controller reports as TranslationFailed): the returned Translation still
// holds the resolution.
func (s *Set) Translate(gw *gwapiv1.Gateway) (*Translation, error) {
	in, conv := s.input(gw)
	f, err := Run(in, s.Docs.SecretData)
	f.Notes = s.endpointNotes(f)
	f.Ingresses = conv
	return f, err
}

// Run does what the controller's xDS reconciler does for one Gateway: Resolve, read the data of
// the certificates the fleet model names (from secrets), Translate.
func Run(in gatewayapi.Input, secrets []*corev1.Secret) (*Translation, error) {
	f := &Translation{Gateway: in.Gateway, Result: gatewayapi.Resolve(in)}
	byKey := make(map[[2]string]*corev1.Secret, len(secrets))
	for _, sec := range secrets {
		byKey[[2]string{sec.Namespace, sec.Name}] = sec
	}
	data := make(map[string]translate.TLSSecret, len(f.Result.Fleet.Secrets))
	for _, ms := range f.Result.Fleet.Secrets {
		if sec := byKey[[2]string{ms.Namespace, ms.Secret}]; sec != nil {
			data[ms.Name] = translate.TLSSecret{Cert: sec.Data[corev1.TLSCertKey], Key: sec.Data[corev1.TLSPrivateKeyKey]}
		}
	}
	res, err := translate.Translate(&f.Result.Fleet, data)
	if err != nil {
		f.TranslationError = err.Error()
		return f, fmt.Errorf("translating Gateway %s/%s (a Flotilla bug: the controller would keep the last good configuration): %w",
			in.Gateway.Namespace, in.Gateway.Name, err)
	}
	f.Resources = res
	return f, nil
}

// endpointNotes are the notes on the endpoints of the Services the fleet sends traffic to.
func (s *Set) endpointNotes(f *Translation) []string {
	var out []string
	for _, c := range f.Result.Fleet.Clusters {
		if n := s.endpoints[c.Service]; n != "" && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// ClusterNotes are the endpoint notes of the Services behind the named clusters of a fleet.
func (s *Set) ClusterNotes(f *Translation, clusters []string) []string {
	var out []string
	for _, c := range f.Result.Fleet.Clusters {
		if n := s.endpoints[c.Service]; n != "" && slices.Contains(clusters, c.Name) && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}
