package distapi

import (
	_ "crypto/sha256" // digest algorithms the hub accepts
	_ "crypto/sha512"
	"net/url"
	"regexp"
	"strings"
	"sync"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/hub/errcode"
)

// Kind is which endpoint of the API a path names.
type Kind int

const (
	KindBase        Kind = iota + 1 // /v2/
	KindCatalog                     // /v2/_catalog
	KindManifest                    // /v2/<name>/manifests/<reference>
	KindBlob                        // /v2/<name>/blobs/<digest>
	KindUploadStart                 // /v2/<name>/blobs/uploads/
	KindUpload                      // /v2/<name>/blobs/uploads/<id>
	KindTags                        // /v2/<name>/tags/list
	KindReferrers                   // /v2/<name>/referrers/<digest>
	KindSearch                      // /v1/search: Docker's search (docker search HUB/term)
)

// SearchPath is the one path outside /v2/ that the registry answers.
const SearchPath = "/v1/search"

func (k Kind) String() string {
	return [...]string{"", "base", "catalog", "manifest", "blob", "upload-start", "upload", "tags", "referrers", "search"}[k]
}

// Path is a parsed API path. Name is a valid repository name; Reference is
// a tag or a digest (Digest is set when it is one); UploadID names an upload.
type Path struct {
	Kind      Kind
	Name      string
	Reference string
	Digest    digest.Digest
	UploadID  string
}

// MaxNameLength bounds a repository name, slashes included (the spec: less than 256).
const MaxNameLength = 255

// The patterns are compiled on first use (lazyRegexp), not as every
// strata command starts: most never serve the API.
var (
	// nameComponent is the distribution grammar for one path component of a name.
	nameComponent = lazyRegexp(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`)
	tagPattern    = lazyRegexp(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`)
	uploadPattern = lazyRegexp(`^[a-zA-Z0-9_-]{1,64}$`)
)

// lazyRegexp is a regular expression compiled the first time it is asked for.
func lazyRegexp(expr string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })
}

// ParsePath parses the escaped path of a request (r.URL.EscapedPath()):
// one under /v2/, or SearchPath.
// Repository names contain slashes, so the endpoint is found from the right;
// every component is unescaped on its own, so %2F, %2e and the like can
// never smuggle a separator or a dot segment into a name. The error is a
// coded one: NAME_INVALID, DIGEST_INVALID, TAG_INVALID, BLOB_UPLOAD_UNKNOWN,
// or a 404 for a path that is not part of the API.
func ParsePath(escaped string) (Path, error) {
	if escaped == SearchPath {
		return Path{Kind: KindSearch}, nil
	}
	rest, ok := strings.CutPrefix(escaped, "/v2")
	if !ok || rest != "" && rest[0] != '/' {
		return Path{}, notFound(escaped)
	}
	switch rest {
	case "", "/":
		return Path{Kind: KindBase}, nil
	case "/_catalog":
		return Path{Kind: KindCatalog}, nil
	}
	parts := strings.Split(strings.TrimPrefix(rest, "/"), "/")
	for i, p := range parts {
		u, err := url.PathUnescape(p)
		if err != nil {
			return Path{}, errcode.New(errcode.NameInvalid, "path component %q is not valid URL escaping", p)
		}
		parts[i] = u
	}
	p, nameParts, err := endpoint(parts)
	if err != nil {
		return Path{}, err
	}
	if p.Name, err = checkName(nameParts); err != nil {
		return Path{}, err
	}
	return p, nil
}

// endpoint recognises the endpoint at the end of parts and returns the
// parts before it, which must form the repository name.
func endpoint(parts []string) (Path, []string, error) {
	n := len(parts)
	at := func(i int) string { // parts counted from the end: at(1) is the last
		if i > n {
			return ""
		}
		return parts[n-i]
	}
	switch {
	case n >= 3 && at(3) == "blobs" && at(2) == "uploads":
		if at(1) == "" {
			return Path{Kind: KindUploadStart}, parts[:n-3], nil
		}
		if !uploadPattern().MatchString(at(1)) {
			return Path{}, nil, errcode.New(errcode.BlobUploadUnknown, "upload %q is not known", at(1))
		}
		return Path{Kind: KindUpload, UploadID: at(1)}, parts[:n-3], nil
	case n >= 2 && at(2) == "blobs" && at(1) == "uploads":
		return Path{Kind: KindUploadStart}, parts[:n-2], nil
	case n >= 2 && at(2) == "blobs":
		d, err := parseDigest(at(1))
		return Path{Kind: KindBlob, Digest: d, Reference: at(1)}, parts[:n-2], err
	case n >= 2 && at(2) == "referrers":
		d, err := parseDigest(at(1))
		return Path{Kind: KindReferrers, Digest: d, Reference: at(1)}, parts[:n-2], err
	case n >= 2 && at(2) == "manifests":
		ref := at(1)
		if strings.Contains(ref, ":") {
			d, err := parseDigest(ref)
			return Path{Kind: KindManifest, Digest: d, Reference: ref}, parts[:n-2], err
		}
		if !tagPattern().MatchString(ref) {
			return Path{}, nil, errcode.New(errcode.TagInvalid, "%q is neither a tag nor a digest", ref)
		}
		return Path{Kind: KindManifest, Reference: ref}, parts[:n-2], nil
	case n >= 2 && at(2) == "tags" && at(1) == "list":
		return Path{Kind: KindTags}, parts[:n-2], nil
	}
	return Path{}, nil, notFound("/v2/" + strings.Join(parts, "/"))
}

func checkName(parts []string) (string, error) {
	if len(parts) == 0 {
		return "", errcode.New(errcode.NameInvalid, "the path names no repository")
	}
	for _, p := range parts {
		if !nameComponent().MatchString(p) {
			return "", errcode.New(errcode.NameInvalid,
				"repository name component %q is invalid: use lowercase letters and digits, separated by '.', '_', '__' or '-'", p)
		}
	}
	name := strings.Join(parts, "/")
	if len(name) > MaxNameLength {
		return "", errcode.New(errcode.NameInvalid, "repository name is %d characters, more than %d", len(name), MaxNameLength)
	}
	return name, nil
}

// CheckName validates a repository name given whole (as in ?from=).
func CheckName(name string) error {
	_, err := checkName(strings.Split(name, "/"))
	return err
}

// CheckTag validates a tag given outside the path (as in ?tag= or ?last=).
func CheckTag(tag string) error {
	if !tagPattern().MatchString(tag) {
		return errcode.New(errcode.TagInvalid, "tag %q is invalid: up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'", tag)
	}
	return nil
}

func parseDigest(s string) (digest.Digest, error) {
	d, err := digest.Parse(s)
	if err != nil {
		return "", errcode.New(errcode.DigestInvalid, "digest %q: %v", s, err)
	}
	return d, nil
}

func notFound(path string) error {
	return &errcode.Error{Code: errcode.Code{Name: "NOT_FOUND", Status: 404, Message: "no such endpoint"},
		Message: path + " is not an endpoint of the registry API"}
}
