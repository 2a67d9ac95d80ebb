package remote

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/image"
)

// manifestAccept is every manifest type strata reads, as the Accept header.
var manifestAccept = strings.Join([]string{
	ocispec.MediaTypeImageIndex, image.MediaTypeDockerManifestList,
	ocispec.MediaTypeImageManifest, image.MediaTypeDockerManifest,
}, ", ")

func (r *Repository) manifestPath(ref string) string {
	return "/v2/" + r.Name + "/manifests/" + ref
}

func (r *Repository) String() string { return r.Domain + "/" + r.Name }

// opName is "domain/name:ref" or "domain/name@digest", for messages.
func (r *Repository) opName(ref string) string {
	if strings.Contains(ref, ":") {
		return r.String() + "@" + ref
	}
	return r.String() + ":" + ref
}

// Resolve finds what ref (a tag or a digest) names, with one HEAD request:
// the manifest's media type, digest and size. When the registry leaves the
// digest out of its answer, the manifest is fetched to compute it.
func (r *Repository) Resolve(ctx context.Context, ref string) (image.Descriptor, error) {
	resp, err := r.do(ctx, &request{method: http.MethodHead, path: r.manifestPath(ref),
		header: http.Header{"Accept": {manifestAccept}}})
	if err != nil {
		return image.Descriptor{}, err
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return image.Descriptor{}, r.notFound(ref)
	}
	if _, err := expect(resp, "resolve "+r.opName(ref), http.StatusOK); err != nil {
		return image.Descriptor{}, err
	}
	dgst, err := digest.Parse(resp.Header.Get("Docker-Content-Digest"))
	size, serr := strconv.ParseInt(resp.Header.Get("Content-Length"), 10, 64)
	mt := mediaType(resp.Header.Get("Content-Type"))
	if err != nil || serr != nil || !image.IsManifest(mt) && !image.IsIndex(mt) {
		desc, _, err := r.FetchManifest(ctx, ref)
		return desc, err
	}
	if want, ok := refDigest(ref); ok && want != dgst {
		return image.Descriptor{}, fmt.Errorf("%s: the registry says its digest is %s: %w", r.opName(ref), dgst, errdefs.ErrConflict)
	}
	return image.Descriptor{MediaType: mt, Digest: dgst, Size: size}, nil
}

// notFound is the error for a tag or digest the repository does not have.
func (r *Repository) notFound(ref string) error {
	return fmt.Errorf("no manifest for %s: the repository has no such tag or digest, or does not exist: %w", r.opName(ref), errdefs.ErrNotFound)
}

func refDigest(ref string) (digest.Digest, bool) {
	d, err := digest.Parse(ref)
	return d, err == nil
}

func mediaType(contentType string) string {
	mt, _, _ := strings.Cut(contentType, ";")
	return strings.TrimSpace(mt)
}

// FetchManifest reads the manifest or index ref names, up to
// image.MaxManifestSize, and checks it: its digest against ref when ref is a
// digest (else against the Docker-Content-Digest the registry sent), its
// media type against its body.
func (r *Repository) FetchManifest(ctx context.Context, ref string) (image.Descriptor, []byte, error) {
	op := "fetch manifest " + r.opName(ref)
	resp, err := r.do(ctx, &request{method: http.MethodGet, path: r.manifestPath(ref),
		header: http.Header{"Accept": {manifestAccept}}})
	if err != nil {
		return image.Descriptor{}, nil, err
	}
	if resp.StatusCode == http.StatusNotFound {
		resp.Body.Close()
		return image.Descriptor{}, nil, r.notFound(ref)
	}
	if _, err := expect(resp, op, http.StatusOK); err != nil {
		return image.Descriptor{}, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, image.MaxManifestSize+1))
	if err != nil {
		return image.Descriptor{}, nil, fmt.Errorf("%s: %w", op, err)
	}
	if len(body) > image.MaxManifestSize {
		return image.Descriptor{}, nil, fmt.Errorf("%s: larger than %d bytes: %w", op, image.MaxManifestSize, errdefs.ErrInvalidArgument)
	}
	want, byDigest := refDigest(ref)
	if !byDigest {
		want, _ = digest.Parse(resp.Header.Get("Docker-Content-Digest"))
	}
	dgst := image.Digest(body)
	if want != "" {
		if err := want.Validate(); err != nil || want.Algorithm().FromBytes(body) != want {
			return image.Descriptor{}, nil, fmt.Errorf("%s: content does not match digest %s: %w", op, want, errdefs.ErrConflict)
		}
		dgst = want
	}
	mt := mediaType(resp.Header.Get("Content-Type"))
	if detected := image.DetectMediaType(body); detected != "" && (mt == "" || !image.IsManifest(mt) && !image.IsIndex(mt)) {
		mt = detected
	}
	if !image.IsManifest(mt) && !image.IsIndex(mt) {
		return image.Descriptor{}, nil, fmt.Errorf("%s: unsupported manifest type %q: %w", op, mt, errdefs.ErrInvalidArgument)
	}
	return image.Descriptor{MediaType: mt, Digest: dgst, Size: int64(len(body))}, body, nil
}

// PushManifest uploads a manifest or index under ref (a tag, or its digest)
// and returns the digest the registry gave it.
func (r *Repository) PushManifest(ctx context.Context, ref, mediaType string, body []byte) (digest.Digest, error) {
	resp, err := r.do(ctx, &request{method: http.MethodPut, path: r.manifestPath(ref),
		header: http.Header{"Content-Type": {mediaType}},
		body:   func() io.Reader { return bytes.NewReader(body) }, size: int64(len(body))})
	if err != nil {
		return "", err
	}
	if _, err := expect(resp, "push manifest "+r.opName(ref), http.StatusCreated, http.StatusOK, http.StatusAccepted); err != nil {
		return "", err
	}
	resp.Body.Close()
	want := image.Digest(body)
	if got := resp.Header.Get("Docker-Content-Digest"); got != "" && got != want.String() {
		return "", fmt.Errorf("push manifest %s: the registry stored it as %s, not %s: %w", r.opName(ref), got, want, errdefs.ErrConflict)
	}
	return want, nil
}

// Tags lists the repository's tags, following the registry's pagination.
func (r *Repository) Tags(ctx context.Context) ([]string, error) {
	var all []string
	next := &url.URL{Path: "/v2/" + r.Name + "/tags/list"}
	for next != nil {
		resp, err := r.do(ctx, &request{method: http.MethodGet, path: next.Path, query: next.Query()})
		if err != nil {
			return nil, err
		}
		if resp.StatusCode == http.StatusNotFound {
			resp.Body.Close()
			return nil, fmt.Errorf("repository %s not found: %w", r, errdefs.ErrNotFound)
		}
		if _, err := expect(resp, "list tags of "+r.String(), http.StatusOK); err != nil {
			return nil, err
		}
		var page struct {
			Tags []string `json:"tags"`
		}
		err = json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&page)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("list tags of %s: the answer is not JSON: %v", r, err)
		}
		all = append(all, page.Tags...)
		next = nextLink(resp.Header.Get("Link"))
	}
	return all, nil
}

// nextLink reads `</v2/x/tags/list?n=100&last=b>; rel="next"`.
func nextLink(h string) *url.URL {
	target, params, ok := strings.Cut(h, ";")
	if !ok || !strings.Contains(params, `rel="next"`) {
		return nil
	}
	u, err := url.Parse(strings.Trim(strings.TrimSpace(target), "<>"))
	if err != nil || u.Path == "" {
		return nil
	}
	return u
}
