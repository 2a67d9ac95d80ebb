package web

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"time"
)

// sessionTTL is how long a sign-in lasts.
const sessionTTL = 14 * 24 * time.Hour

// cookie names; over https they get the __Host- prefix, which browsers
// keep to this host and path /, with Secure.
func (s *site) cookieName(r *http.Request, base string) string {
	if s.Auth.Secure(r) {
		return "__Host-" + base
	}
	return base
}

func (s *site) setCookie(w http.ResponseWriter, r *http.Request, base, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: s.cookieName(r, base), Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: s.Auth.Secure(r), SameSite: http.SameSiteLaxMode})
}

func (s *site) cookie(r *http.Request, base string) string {
	c, err := r.Cookie(s.cookieName(r, base))
	if err != nil {
		return ""
	}
	return c.Value
}

// visitor reads a POST's form, then finds who is looking (their session:
// after the body, so that a slow form acts with who they are when it
// arrives, not when it began), gives a signed-out visitor a CSRF cookie,
// and checks the CSRF token of every POST.
func (s *site) visitor(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		formErr := error(nil)
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
			formErr = r.ParseForm()
		}
		v := &visitor{}
		if secret := s.cookie(r, "session"); secret != "" {
			if id, err := s.Auth.Session(r.Context(), secret); err == nil {
				v.id, v.session, v.anchor = id, secret, "session "+secret
			} else {
				s.setCookie(w, r, "session", "", -1)
			}
		}
		if v.anchor == "" {
			anon := s.cookie(r, "csrf")
			if anon == "" {
				anon = rand.Text()
				s.setCookie(w, r, "csrf", anon, 0)
			}
			v.anchor = "visitor " + anon
		}
		ctx := context.WithValue(r.Context(), visitorKey{}, v)
		r = r.WithContext(ctx)
		if r.Method == http.MethodPost {
			if formErr != nil || !hmac.Equal([]byte(r.PostForm.Get("csrf")), []byte(s.csrfToken(v))) {
				s.fail(w, r, http.StatusForbidden, "This form expired or did not come from this hub. Go back, reload the page and try again.")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// csrfToken is the token forms carry: a MAC of what the visitor's session
// (or pre-session cookie) is, so it cannot be guessed or moved to another visitor.
func (s *site) csrfToken(v *visitor) string {
	mac := hmac.New(sha256.New, s.Auth.Secret("csrf"))
	mac.Write([]byte(v.anchor))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// signIn starts a session for user and sends the browser on to next.
func (s *site) signIn(w http.ResponseWriter, r *http.Request, user, next string) {
	secret, err := s.Auth.NewSession(r.Context(), user, r.UserAgent(), sessionTTL)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	s.setCookie(w, r, "session", secret, int(sessionTTL/time.Second))
	redirect(w, next)
}

// signedIn wraps a handler that needs a signed-in visitor.
func (s *site) signedIn(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !visitorOf(r.Context()).signedIn() {
			if r.Method == http.MethodGet {
				redirect(w, "/signin?next="+url.QueryEscape(r.URL.RequestURI()))
				return
			}
			s.fail(w, r, http.StatusUnauthorized, "Sign in first.")
			return
		}
		h(w, r)
	}
}

// admin wraps a handler only administrators may use; others see a 404.
func (s *site) admin(h http.HandlerFunc) http.HandlerFunc {
	return s.signedIn(func(w http.ResponseWriter, r *http.Request) {
		if !visitorOf(r.Context()).id.User.Admin {
			s.notFound(w, r)
			return
		}
		h(w, r)
	})
}

// flash carries a one-line message across a redirect.
func (s *site) flash(w http.ResponseWriter, r *http.Request, msg string) {
	s.setCookie(w, r, "flash", base64.RawURLEncoding.EncodeToString([]byte(msg)), 60)
}

func (s *site) takeFlash(w http.ResponseWriter, r *http.Request) string {
	v := s.cookie(r, "flash")
	if v == "" {
		return ""
	}
	s.setCookie(w, r, "flash", "", -1)
	b, _ := base64.RawURLEncoding.DecodeString(v)
	return string(b)
}
