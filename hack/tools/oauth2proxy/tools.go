//go:build tools

// Package tools pins oauth2-proxy, the authenticating reverse proxy that Ingress-NGINX's
// auth-url/auth-signin annotations are usually pointed at; test/extauth runs it, beside a mock OIDC
// provider, to check the ext_authz check request Flotilla makes Envoy send against the real thing.
package tools

import _ "github.com/oauth2-proxy/oauth2-proxy/v7"
