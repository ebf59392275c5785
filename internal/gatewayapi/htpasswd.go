package gatewayapi

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
)

// Users are the basic-auth users of a Secret, as Envoy's basic_auth filter reads them.
type Users struct {
	// Text is the users as htpasswd lines "user:{SHA}<base64>", sorted by user; empty when
	// Invalid.
	Text  string
	Count int
	// Invalid says why the Secret's users cannot be checked by Envoy (a hash of a form other
	// than SHA-1, a malformed line): such a Secret is refused, never taken as "anyone may pass".
	Invalid string
}

// maxUsers bounds the users of one Secret (each is a line of every route configuration that
// uses it).
const maxUsers = 1024

// ParseHTPasswd reads an htpasswd file (ingress-nginx's auth-file, the Secret key "auth").
func ParseHTPasswd(data []byte) *Users {
	var pairs [][2]string
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(strings.TrimSuffix(line, "\r"))
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		user, hash, ok := strings.Cut(line, ":")
		if !ok {
			return &Users{Invalid: fmt.Sprintf("line %d is not user:hash", i+1)}
		}
		pairs = append(pairs, [2]string{user, hash})
	}
	return users(pairs)
}

// ParseUserMap reads an auth-map Secret: one key per user whose value is the password hash. ok
// is false when the data does not look like one (some value is no password hash of any form), so
// that a cache keeps no application credentials for it.
func ParseUserMap(data map[string][]byte) (u *Users, ok bool) {
	if len(data) == 0 || len(data) > maxUsers {
		return nil, false
	}
	pairs := make([][2]string, 0, len(data))
	for k, v := range data {
		h := strings.TrimSpace(string(v))
		if hashForm(h) == "" {
			return nil, false
		}
		pairs = append(pairs, [2]string{k, h})
	}
	return users(pairs), true
}

// hashForm names the htpasswd hash form of h, "" when h is none.
func hashForm(h string) string {
	switch {
	case strings.HasPrefix(h, "{SHA}"):
		return "SHA-1"
	case strings.HasPrefix(h, "$apr1$"):
		return "Apache MD5 ($apr1$)"
	case strings.HasPrefix(h, "$2y$"), strings.HasPrefix(h, "$2a$"), strings.HasPrefix(h, "$2b$"):
		return "bcrypt"
	case strings.HasPrefix(h, "$5$"), strings.HasPrefix(h, "$6$"), strings.HasPrefix(h, "$1$"):
		return "crypt(3) (" + h[:3] + ")"
	}
	return ""
}

func users(pairs [][2]string) *Users {
	if len(pairs) == 0 {
		return &Users{Invalid: "it has no users"}
	}
	if len(pairs) > maxUsers {
		return &Users{Invalid: fmt.Sprintf("it has %d users, more than %d", len(pairs), maxUsers)}
	}
	slices.SortFunc(pairs, func(a, b [2]string) int { return strings.Compare(a[0], b[0]) })
	var b strings.Builder
	for i, p := range pairs {
		user, hash := p[0], p[1]
		if user == "" || strings.ContainsAny(user, ": \t") || !headerSafe(user) {
			return &Users{Invalid: fmt.Sprintf("user name %q is invalid", user)}
		}
		if i > 0 && pairs[i-1][0] == user {
			return &Users{Invalid: fmt.Sprintf("user %s is listed twice", user)}
		}
		switch form := hashForm(hash); form {
		case "SHA-1":
			raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(hash, "{SHA}"))
			if err != nil || len(raw) != 20 {
				return &Users{Invalid: fmt.Sprintf("user %s: the {SHA} hash is not the base64 of a SHA-1 digest", user)}
			}
		case "":
			return &Users{Invalid: fmt.Sprintf("user %s: the password is not hashed in a form htpasswd writes (plain text is refused)", user)}
		default:
			return &Users{Invalid: fmt.Sprintf("user %s: %s hashes cannot be checked by Envoy; hash with SHA-1 (htpasswd -s)", user, form)}
		}
		fmt.Fprintf(&b, "%s:%s\n", user, hash)
	}
	return &Users{Text: b.String(), Count: len(pairs)}
}
