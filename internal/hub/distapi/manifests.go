package distapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/hub/deadline"
	"github.com/strata-dev/strata/internal/hub/errcode"
	"github.com/strata-dev/strata/internal/hub/meta"
	"github.com/strata-dev/strata/internal/image"
)

// GetManifest serves a manifest by tag or digest (HEAD: headers only).
func (a *API) GetManifest(w http.ResponseWriter, r *http.Request, p Path) error {
	m, err := a.Meta.Manifest(r.Context(), p.Name, p.Reference)
	if err != nil {
		return notFoundAs(err, errcode.ManifestUnknown)
	}
	h := w.Header()
	h.Set("Content-Type", m.MediaType)
	h.Set("Content-Length", strconv.Itoa(len(m.Content)))
	h.Set("Docker-Content-Digest", m.Digest.String())
	h.Set("ETag", `"`+m.Digest.String()+`"`)
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		if a.Pulls != nil {
			a.Pulls.Count(p.Name, m.Digest, a.Blobs.Now())
		}
		deadline.Extend(w, r, int64(len(m.Content)))
		w.Write(m.Content)
	}
	return nil
}

// PutManifest stores a manifest or index under a tag or its digest (and
// under any ?tag= given). It must parse, match the digest it is pushed as,
// and name only blobs and manifests the repository holds (non-distributable
// layers and the subject excepted).
func (a *API) PutManifest(w http.ResponseWriter, r *http.Request, p Path) error {
	limit := a.Limits.MaxManifestSize
	if limit <= 0 || limit > image.MaxManifestSize {
		limit = image.MaxManifestSize
	}
	if r.ContentLength > limit {
		return errcode.New(errcode.ManifestTooBig, "manifest is %d bytes, more than this hub's limit of %d", r.ContentLength, limit)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return errcode.New(errcode.ManifestTooBig, "manifest is more than this hub's limit of %d bytes", limit)
	}
	if err != nil {
		return errcode.Wrap(errcode.ManifestInvalid, err)
	}
	d := digest.SHA256.FromBytes(body)
	if p.Digest != "" {
		if d = p.Digest.Algorithm().FromBytes(body); d != p.Digest {
			return errcode.New(errcode.DigestInvalid, "manifest content is %s, not %s as pushed", d, p.Digest)
		}
	}
	tags := r.URL.Query()["tag"]
	for _, t := range tags {
		if err := CheckTag(t); err != nil {
			return err
		}
	}
	if p.Digest == "" {
		tags = append(tags, p.Reference)
	}
	m, indexBlobs, err := describe(mediaTypeOf(r.Header.Get("Content-Type")), body)
	if err != nil {
		return err
	}
	if err := a.checkSizes(r.Context(), p.Name, indexBlobs); err != nil {
		return err
	}
	m.Digest, m.CreatedAt = d, a.Blobs.Now()
	if err := a.Meta.PutManifest(r.Context(), p.Name, m, tags); err != nil {
		var missing *meta.MissingError
		if errors.As(err, &missing) {
			e := errcode.Wrap(errcode.ManifestBlobUnknown, err)
			e.Detail = missing
			return e
		}
		return immutableAs(err)
	}
	a.Audit.Record(r.Context(), meta.AuditEvent{Action: meta.AuditPush, Target: refString(p.Name, p.Reference),
		Details: map[string]string{"repository": p.Name, "digest": d.String(), "media_type": m.MediaType, "tags": strings.Join(tags, ",")}})
	h := w.Header()
	h.Set("Location", "/v2/"+p.Name+"/manifests/"+d.String())
	h.Set("Docker-Content-Digest", d.String())
	if m.Subject != "" {
		h.Set("OCI-Subject", m.Subject.String())
	}
	if q := r.URL.Query()["tag"]; len(q) > 0 {
		h.Set("OCI-Tag", strings.Join(q, ", "))
	}
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
	return nil
}

// Describe parses a manifest or index and works out what it refers to.
// The media type is the document's own, else the Content-Type it came
// with, else what its shape says.
func Describe(contentType string, body []byte) (meta.Manifest, error) {
	m, _, err := describe(contentType, body)
	return m, err
}

// describe is Describe, with the blob entries of an index (whose sizes
// the push checks against the blobs stored).
func describe(contentType string, body []byte) (m meta.Manifest, indexBlobs []image.Descriptor, err error) {
	var own struct {
		MediaType string `json:"mediaType"`
	}
	json.Unmarshal(body, &own) // a body that is not JSON is refused by the parsers below
	mt := own.MediaType
	if mt == "" && contentType != "application/octet-stream" {
		mt = contentType
	}
	if mt == "" || mt == "application/octet-stream" {
		mt = image.DetectMediaType(body)
	}
	m = meta.Manifest{MediaType: mt, Content: body}
	invalid := func(err error) error { return errcode.Wrap(errcode.ManifestInvalid, err) }
	switch {
	case image.IsIndex(mt):
		idx, err := image.ParseIndex(mt, body)
		if err != nil {
			return m, nil, invalid(err)
		}
		for _, c := range idx.Manifests {
			if IndexesManifest(c.MediaType) {
				m.Children = append(m.Children, c.Digest)
			} else {
				m.Blobs = append(m.Blobs, c.Digest)
				indexBlobs = append(indexBlobs, c)
			}
		}
		m.ArtifactType, m.Annotations = idx.ArtifactType, idx.Annotations
		if idx.Subject != nil {
			m.Subject = idx.Subject.Digest
		}
	case image.IsManifest(mt):
		man, err := image.ParseManifest(mt, body)
		if err != nil {
			return m, nil, invalid(err)
		}
		m.Blobs = append(m.Blobs, man.Config.Digest)
		for _, l := range man.Layers {
			if !image.IsNonDistributable(l.MediaType) {
				m.Blobs = append(m.Blobs, l.Digest)
			}
		}
		m.ArtifactType, m.Annotations = man.ArtifactType, man.Annotations
		if m.ArtifactType == "" {
			m.ArtifactType = man.Config.MediaType
		}
		if man.Subject != nil {
			m.Subject = man.Subject.Digest
		}
	default:
		_, _, err := image.References(mt, body) // says why: schema1, or an unknown type
		if err == nil {
			err = errdefs.ErrInvalidArgument
		}
		return m, nil, invalid(err)
	}
	return m, indexBlobs, nil
}

// checkSizes refuses blob entries of an index whose size is not the size
// of the blob the repository holds (a client trusting the index would
// fail to read it). A blob the repository lacks is left for PutManifest to
// report with the others. A digest's size never changes, so looking
// before the transaction that stores the index races with nothing.
func (a *API) checkSizes(ctx context.Context, repo string, descs []image.Descriptor) error {
	for _, d := range descs {
		l, err := a.Meta.RepoBlob(ctx, repo, d.Digest)
		if errdefs.IsNotFound(err) {
			continue
		}
		if err != nil {
			return err
		}
		if l.Size != d.Size {
			return errcode.New(errcode.ManifestInvalid, "the index gives blob %s a size of %d bytes, but it is %d bytes: push the index again with its true size", d.Digest, d.Size, l.Size)
		}
	}
	return nil
}

// IndexesManifest reports whether an index entry of media type mt names a
// manifest (or index), which must be stored in the repository, rather
// than a blob: BuildKit's registry cache (image-manifest=false, its
// default) is an index whose entries are its config and layer blobs, as
// the distribution registry accepts.
func IndexesManifest(mt string) bool { return image.IsManifest(mt) || image.IsIndex(mt) }

// DeleteManifest deletes a manifest by digest (with its tags), or only a tag.
func (a *API) DeleteManifest(w http.ResponseWriter, r *http.Request, p Path) error {
	if err := a.Delete(r.Context(), p.Name, p.Reference, nil); err != nil {
		return immutableAs(notFoundAs(err, errcode.ManifestUnknown))
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// Delete removes a manifest of repo by digest (with its tags), or a tag,
// as a DELETE of the API does, and records it in the audit log (which
// webhooks hear) with details added. Everything that deletes manifests or
// tags goes through here: the API, the website and retention. An
// immutable tag is refused with a *meta.ImmutableError.
func (a *API) Delete(ctx context.Context, repo, ref string, details map[string]string) error {
	return a.delete(ctx, repo, ref, false, details)
}

// DeleteUntagged deletes manifest d of repo as Delete does, unless a tag
// points at it by then (a *meta.InUseError): retention drops untagged
// manifests, and a tag pushed since it looked must keep its manifest.
func (a *API) DeleteUntagged(ctx context.Context, repo string, d digest.Digest, details map[string]string) error {
	return a.delete(ctx, repo, d.String(), true, details)
}

func (a *API) delete(ctx context.Context, repo, ref string, untaggedOnly bool, details map[string]string) error {
	var err error
	e := meta.AuditEvent{Target: refString(repo, ref), Details: map[string]string{"repository": repo}}
	if d, perr := digest.Parse(ref); perr == nil {
		err = a.Meta.DeleteManifest(ctx, repo, d, untaggedOnly)
		e.Action, e.Details["digest"] = meta.AuditManifestDelete, d.String()
	} else {
		err = a.Meta.DeleteTag(ctx, repo, ref)
		e.Action, e.Details["tag"] = meta.AuditTagDelete, ref
	}
	if err != nil {
		return err
	}
	maps.Copy(e.Details, details)
	a.Audit.Record(ctx, e)
	return nil
}

// immutableAs gives a refusal of an immutable tag its code, keeping other errors.
func immutableAs(err error) error {
	var ie *meta.ImmutableError
	if errors.As(err, &ie) {
		return errcode.Wrap(errcode.TagImmutable, err)
	}
	return err
}

// refString names a manifest of repo by tag (repo:tag) or digest (repo@digest).
func refString(repo, ref string) string {
	if strings.Contains(ref, ":") {
		return repo + "@" + ref
	}
	return repo + ":" + ref
}
