package daemon

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/evstream/evstream/internal/ratelog"
	"github.com/evstream/evstream/jsonrpc"
)

// authRealm names the MI in WWW-Authenticate.
const authRealm = "evstream"

// miAuth asks every request it guards (the MI, /metrics) for the MI's
// credentials, when the config sets any (mi.auth_token: a Bearer token;
// mi.basic_auth: a user name and password, as OpenSIPS's mi_http). With
// both set, either is accepted. A request without them, or with wrong
// ones, gets HTTP 401 with a JSON-RPC error body and WWW-Authenticate.
//
// Credentials are compared by their SHA-256 in constant time: neither the
// bytes nor the length of a secret leak through the time of an answer.
// They are never logged.
type miAuth struct {
	creds atomic.Pointer[credentials] // nil: no credential asked for
	log   *ratelog.Logger
	next  http.Handler
}

// credentials are the SHA-256 of the configured secrets.
type credentials struct {
	token      *[sha256.Size]byte // nil: no token
	user, pass *[sha256.Size]byte // nil: no basic auth
	challenge  string             // WWW-Authenticate
}

func newMIAuth(next http.Handler, c MIConfig, log *ratelog.Logger) *miAuth {
	a := &miAuth{log: log, next: next}
	a.set(c)
	return a
}

// set replaces the credentials (at start, and on reload).
func (a *miAuth) set(c MIConfig) {
	if c.AuthToken == "" && c.BasicAuth.Username == "" {
		a.creds.Store(nil)
		return
	}
	cr := &credentials{}
	var challenges []string
	if c.AuthToken != "" {
		cr.token = digest(c.AuthToken)
		challenges = append(challenges, `Bearer realm="`+authRealm+`"`)
	}
	if c.BasicAuth.Username != "" {
		cr.user, cr.pass = digest(c.BasicAuth.Username), digest(c.BasicAuth.Password)
		challenges = append(challenges, `Basic realm="`+authRealm+`", charset="UTF-8"`)
	}
	cr.challenge = strings.Join(challenges, ", ")
	a.creds.Store(cr)
}

func digest(s string) *[sha256.Size]byte {
	d := sha256.Sum256([]byte(s))
	return &d
}

func equal(given string, want *[sha256.Size]byte) bool {
	d := sha256.Sum256([]byte(given))
	return subtle.ConstantTimeCompare(d[:], want[:]) == 1
}

// allowed reports whether r carries credentials cr accepts.
func (cr *credentials) allowed(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	if cr.token != nil {
		if scheme, tok, ok := strings.Cut(h, " "); ok && strings.EqualFold(scheme, "Bearer") && equal(strings.TrimSpace(tok), cr.token) {
			return true
		}
	}
	if user, pass, ok := r.BasicAuth(); ok {
		// Every comparison made, always: the time does not tell which
		// failed. The token is also a Basic password, whatever the user
		// name: a browser can send nothing else when it opens the live view.
		allowed := false
		if cr.user != nil {
			u, p := equal(user, cr.user), equal(pass, cr.pass)
			allowed = u && p
		}
		if cr.token != nil && equal(pass, cr.token) {
			allowed = true
		}
		return allowed
	}
	return false
}

func (a *miAuth) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	cr := a.creds.Load()
	if cr == nil || cr.allowed(r) {
		a.next.ServeHTTP(w, r)
		return
	}
	what := "no credentials"
	if r.Header.Get("Authorization") != "" {
		what = "wrong credentials"
	}
	a.log.Warn("mi: request refused: "+what, "remote", r.RemoteAddr, "path", ratelog.Clip(r.URL.Path))
	challenge := cr.challenge
	if cr.user == nil && (r.URL.Path == UIPath || strings.HasPrefix(r.URL.Path, UIPath+"/")) {
		// A browser asks for a user name and password only when offered
		// Basic: the token goes in the password.
		challenge += `, Basic realm="` + authRealm + `", charset="UTF-8"`
	}
	w.Header().Set("WWW-Authenticate", challenge)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusUnauthorized)
	w.Write(jsonrpc.AppendError(nil, nil, &jsonrpc.Error{Code: http.StatusUnauthorized, Message: "Unauthorized"}))
}
