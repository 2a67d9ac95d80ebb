// Package errdefs names the classes of error that strata's packages return, so
// that callers (the CLI's exit codes, the hub's HTTP statuses) can decide what
// to do with an error without matching its text.
//
// A package wraps a class with %w and adds the specifics:
//
//	return fmt.Errorf("image %q: %w", ref, errdefs.ErrNotFound)
package errdefs

import "errors"

var (
	// ErrNotFound: the thing asked for does not exist.
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists: creating something that is already there.
	ErrAlreadyExists = errors.New("already exists")
	// ErrInvalidArgument: the input is malformed or not allowed.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrConflict: the request clashes with the current state (an image in use,
	// a digest that does not match what was promised).
	ErrConflict = errors.New("conflict")
	// ErrUnauthorized: credentials are missing or wrong.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrForbidden: the credentials are fine but do not allow this.
	ErrForbidden = errors.New("forbidden")
	// ErrUnavailable: something needed is not there right now (a tool, a server).
	ErrUnavailable = errors.New("unavailable")
)

// IsNotFound reports whether err is, or wraps, ErrNotFound.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// IsAlreadyExists reports whether err is, or wraps, ErrAlreadyExists.
func IsAlreadyExists(err error) bool { return errors.Is(err, ErrAlreadyExists) }

// IsInvalidArgument reports whether err is, or wraps, ErrInvalidArgument.
func IsInvalidArgument(err error) bool { return errors.Is(err, ErrInvalidArgument) }

// IsConflict reports whether err is, or wraps, ErrConflict.
func IsConflict(err error) bool { return errors.Is(err, ErrConflict) }
