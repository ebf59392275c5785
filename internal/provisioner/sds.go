package provisioner

import (
	"fmt"
	"sync"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/protobuf/types/known/anypb"
)

// Envoy finds its xDS client certificate in SDSDir, a projected volume of two sources:
//
//   - the fleet Secret (SecretName), filled by internal/pki or cert-manager, with the standard keys
//     SecretKeyCertificate, SecretKeyPrivateKey and SecretKeyCA, and nothing Flotilla-specific, so a
//     cert-manager Secret works as it is;
//   - the fleet ConfigMap, which carries the two SDS files (SDSFiles) next to the bootstrap, and
//     KeyXDSTrust, the CA the xDS server's certificate chains to (Flotilla's own CA, whoever
//     issued the client certificate: with cert-manager, the Secret's ca.crt is the issuer's CA,
//     which says nothing about the xDS server).
//
// The bootstrap names the SDS files (file-based SDS); they point at the certificate files and
// watch SDSDir, so a renewed certificate is picked up without a restart when kubelet swaps the
// projected directory atomically.
const (
	SDSDir = "/etc/flotilla/sds"

	// SecretKeyCertificate is the fleet's client certificate chain (PEM).
	SecretKeyCertificate = "tls.crt"
	// SecretKeyPrivateKey is its private key (PEM).
	SecretKeyPrivateKey = "tls.key"
	// SecretKeyCA is the CA bundle (PEM) of the client certificate's issuer, as kubernetes.io/tls
	// Secrets and cert-manager name it. Envoy does not read it; the xDS server trusts it for this
	// fleet when cert-manager issued the certificate.
	SecretKeyCA = "ca.crt"
	// KeyXDSTrust is the ConfigMap key (and file in SDSDir) holding the CA bundle (PEM) that the
	// xDS server's certificate chains to.
	KeyXDSTrust = "xds-ca.crt"

	// KeySDSCertificate is the SDS file (a ConfigMap key) delivering the client certificate.
	KeySDSCertificate = "tls-certificate.yaml"
	// KeySDSValidationContext is the SDS file (a ConfigMap key) delivering the CA bundle.
	KeySDSValidationContext = "validation-context.yaml"

	// SDSCertificateName and SDSValidationContextName are the SDS secret names the bootstrap asks
	// for and the SDS files deliver.
	SDSCertificateName       = "xds_client_certificate"
	SDSValidationContextName = "xds_trusted_ca"
)

// SDSFiles returns the contents of the two SDS files, keyed by file name (KeySDSCertificate,
// KeySDSValidationContext). They are the same for every fleet; the fleet ConfigMap carries them.
func SDSFiles() map[string]string {
	files := sdsFiles()
	return map[string]string{
		KeySDSCertificate:       files[KeySDSCertificate],
		KeySDSValidationContext: files[KeySDSValidationContext],
	}
}

var sdsFiles = sync.OnceValue(func() map[string]string {
	watched := &corev3.WatchedDirectory{Path: SDSDir}
	cert := &tlsv3.Secret{
		Name: SDSCertificateName,
		Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
			CertificateChain: fileSource(SecretKeyCertificate),
			PrivateKey:       fileSource(SecretKeyPrivateKey),
			WatchedDirectory: watched,
		}},
	}
	ca := &tlsv3.Secret{
		Name: SDSValidationContextName,
		Type: &tlsv3.Secret_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
			TrustedCa:        fileSource(KeyXDSTrust),
			WatchedDirectory: watched,
		}},
	}
	out := map[string]string{}
	for key, secret := range map[string]*tlsv3.Secret{KeySDSCertificate: cert, KeySDSValidationContext: ca} {
		if err := secret.ValidateAll(); err != nil {
			panic(fmt.Sprintf("provisioner: invalid SDS secret %s: %v", key, err))
		}
		resource, err := anypb.New(secret)
		if err != nil {
			panic(fmt.Sprintf("provisioner: packing SDS secret %s: %v", key, err))
		}
		y, err := renderYAML(&discoveryv3.DiscoveryResponse{Resources: []*anypb.Any{resource}})
		if err != nil {
			panic(fmt.Sprintf("provisioner: rendering SDS file %s: %v", key, err))
		}
		out[key] = string(y)
	}
	return out
})

func fileSource(key string) *corev3.DataSource {
	return &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: SDSDir + "/" + key}}
}

// sdsConfig is the bootstrap's reference to one SDS file.
func sdsConfig(name, key string) *tlsv3.SdsSecretConfig {
	return &tlsv3.SdsSecretConfig{
		Name: name,
		SdsConfig: &corev3.ConfigSource{
			ResourceApiVersion: corev3.ApiVersion_V3,
			ConfigSourceSpecifier: &corev3.ConfigSource_PathConfigSource{PathConfigSource: &corev3.PathConfigSource{
				Path:             SDSDir + "/" + key,
				WatchedDirectory: &corev3.WatchedDirectory{Path: SDSDir},
			}},
		},
	}
}
