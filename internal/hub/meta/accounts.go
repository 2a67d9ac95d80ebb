package meta

import (
	"context"
	"time"
)

// User is an account. Names share one namespace with
// organizations: a user owns the repositories under their name.
type User struct {
	Name              string
	PasswordHash      string // a PHC string (argon2id); never the password
	Admin             bool
	Disabled          bool // may not sign in or use tokens
	DefaultVisibility Visibility
	CreatedAt         time.Time
	// Generation changes whenever what the user signed in with earlier must
	// stop working (a new password, disabling); bearer tokens carry it. It
	// never repeats, across users, so a user made again under an old name
	// inherits nothing.
	Generation int64
}

// UserChange is the fields of a user to change; nil ones stay as they are.
type UserChange struct {
	PasswordHash      *string
	Admin             *bool
	Disabled          *bool
	DefaultVisibility *Visibility
}

// SettingSignup is the setting that opens sign-up on the web ("on") once
// the hub has its first user.
const SettingSignup = "signup"

// CredentialKind says what a stored secret is.
type CredentialKind string

const (
	// KindToken is a personal access token: a password for docker and strata login.
	KindToken CredentialKind = "token"
	// KindSession is a signed-in web browser.
	KindSession CredentialKind = "session"
	// KindRefresh is an OAuth2 refresh token (docker login's identity token).
	KindRefresh CredentialKind = "refresh"
)

// Credential is a secret a user holds, stored as its hash only.
type Credential struct {
	ID         int64
	User       string
	Kind       CredentialKind
	Name       string // a token's name, a session's browser
	Hash       string // hex SHA-256 of the secret (secrets are random, so a fast hash is enough)
	Scope      string // what it may do (tokens and what they made); "" is everything
	Parent     int64  // the credential this one was made with (a refresh token from a token); 0 none
	CreatedAt  time.Time
	ExpiresAt  time.Time // zero: never
	LastUsedAt time.Time // zero: never used
}

// Expired reports whether c may no longer be used at now.
func (c Credential) Expired(now time.Time) bool {
	return !c.ExpiresAt.IsZero() && !now.Before(c.ExpiresAt)
}

// Accounts are users, their credentials, and the hub's settings.
type Accounts interface {
	// CreateUser adds a user (with a new Generation); ErrAlreadyExists when
	// the name is taken. The hub's first user is an administrator whatever
	// u.Admin says. With selfService (sign-up on the web), a hub that has
	// users takes one only while SettingSignup is "on"; else ErrForbidden.
	CreateUser(ctx context.Context, u User, selfService bool) error
	// User returns a user by name.
	User(ctx context.Context, name string) (User, error)
	// Users lists every user by name.
	Users(ctx context.Context) ([]User, error)
	// UpdateUser writes the fields c sets and nothing else. A new password
	// hash signs the user out everywhere: their web sessions and refresh
	// tokens go and the Generation changes. Disabling does the same and
	// revokes their access tokens too, so that enabling again revives
	// nothing. ErrConflict when the change would leave the hub without an
	// enabled administrator (nothing changes then).
	UpdateUser(ctx context.Context, name string, c UserChange) error
	// DeleteUser removes a user with their credentials, collaborations,
	// organization and team memberships (an organization they alone owned
	// is left to the administrators), repositories and remembered
	// addresses; ErrConflict for the last enabled administrator.
	DeleteUser(ctx context.Context, name string) error

	// CreateCredential stores a credential and returns its id, which no
	// credential had before (ids are never reused, even after deletion).
	CreateCredential(ctx context.Context, c Credential) (int64, error)
	// CredentialByHash finds a credential by the hash of its secret.
	CredentialByHash(ctx context.Context, hash string) (Credential, error)
	// CredentialByID finds a credential by id.
	CredentialByID(ctx context.Context, id int64) (Credential, error)
	// Credentials lists a user's credentials of one kind, newest first.
	Credentials(ctx context.Context, user string, kind CredentialKind) ([]Credential, error)
	// DeleteCredential revokes one of user's credentials and those made with it.
	DeleteCredential(ctx context.Context, user string, id int64) error
	// DeleteCredentials revokes all of user's credentials of the given kinds.
	DeleteCredentials(ctx context.Context, user string, kinds ...CredentialKind) error
	// TouchCredential records a use.
	TouchCredential(ctx context.Context, id int64, now time.Time) error

	// Setting returns a hub setting, "" when unset.
	Setting(ctx context.Context, key string) (string, error)
	// SetSetting stores a hub setting.
	SetSetting(ctx context.Context, key, value string) error
}
