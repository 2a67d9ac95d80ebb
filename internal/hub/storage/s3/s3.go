// Package s3 is the storage.Driver on any S3-API object store (AWS S3, Ceph
// RGW, SeaweedFS, MinIO, R2), for a hub whose nodes share their blobs.
//
// The client is aws-sdk-go-v2: it is AWS's own SDK, kept in step with the
// S3 API by the people who define it, and it reads credentials the way
// every AWS tool does (AWS_* variables, ~/.aws/credentials and config
// profiles, SSO, web identity, container and instance roles), which is
// what operators expect of a server; minio-go reads fewer of those. It
// honours AWS_CA_BUNDLE through its own HTTP client, which this package
// keeps (tuned, not replaced), so a plain-http endpoint is unaffected.
//
// Layout under the bucket's prefix:
//
//	blobs/<alg>/<hex>/<name>.<size>   a marker: blob <alg>:<hex> is data/<name>, <size> bytes, when
//	                                  it is empty; else (a blob that fit in a part) its content
//	data/<id>.<random>                what upload <id> wrote: a blob's content, or the tail of
//	                                  an upload in progress (see uploads.go)
//
// S3 has no rename, and a multipart upload's key is fixed when it starts,
// before the digest is known; so the content stays where its upload wrote
// it and a marker named by the digest points at it. Commit completes the
// content first and writes the marker last: nothing is visible under a
// digest until all of it is. Stat and Walk only list markers, whose names
// carry the size. Readers keep the digest-to-object mapping in a small
// cache, used only where a stale entry shows itself and is corrected at
// once (Open: the object is gone, look again); Stat and URL always look,
// since another node's collection may have deleted the blob, and a push
// since then put it in a new object. An upload's own bookkeeping is not in the bucket:
// storage.Store records it with the upload in meta.
//
// Errors: a missing object wraps errdefs.ErrNotFound; a store that cannot
// be reached or answers 5xx wraps errdefs.ErrUnavailable (503 to clients).
package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/hub/storage"
)

// Options say where the blobs go. ParseURL makes them from a URL.
type Options struct {
	Bucket string
	Prefix string // key prefix, without leading or trailing slashes
	// Endpoint is the store's URL (http://127.0.0.1:8333); empty: AWS S3.
	Endpoint string
	// Region; empty: from the AWS environment or profile, else us-east-1.
	Region string
	// PathStyle addresses the bucket in the path (most stores other than AWS need it).
	PathStyle bool
	// Credentials; nil: the standard AWS chain (environment, files, roles).
	Credentials aws.CredentialsProvider
	// PartSize is the size of a multipart upload's parts: at least 5 MiB (S3's
	// minimum), 8 MiB by default.
	PartSize int64
	// PartsInFlight is how many parts of one upload are sent at once, 4 by
	// default. An upload being written holds that many parts in memory, and
	// one more forming; all uploads together hold at most 256 MiB of parts
	// beyond each one's first in flight (see spareParts).
	PartsInFlight int
}

// spareParts is how many bytes of parts all uploads together keep in
// flight beyond each upload's first: with many pushes at once, the store
// is busy anyway, and each upload's own part bounds memory as one part in
// flight per upload always did.
const spareParts = 256 << 20

// minPart is the least size of every part of a multipart upload but the last.
const minPart = 5 << 20

// ParseURL reads s3://BUCKET/PREFIX?endpoint=URL&region=R&path-style=BOOL.
// With an endpoint, path-style addressing is the default.
func ParseURL(raw string) (Options, error) {
	u, err := url.Parse(raw)
	bad := func(why string) (Options, error) {
		return Options{}, fmt.Errorf("storage URL %q: %s (want s3://BUCKET/PREFIX?endpoint=URL&region=REGION): %w",
			raw, why, errdefs.ErrInvalidArgument)
	}
	if err != nil {
		return bad(err.Error())
	}
	if u.Scheme != "s3" || u.Host == "" {
		return bad("not an s3:// URL with a bucket")
	}
	if u.User != nil {
		return bad("credentials do not go in the URL: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile")
	}
	q := u.Query()
	o := Options{Bucket: u.Host, Prefix: strings.Trim(u.Path, "/"), Endpoint: q.Get("endpoint"), Region: q.Get("region")}
	o.PathStyle = o.Endpoint != ""
	if ps := q.Get("path-style"); ps != "" {
		if o.PathStyle, err = strconv.ParseBool(ps); err != nil {
			return bad("path-style is true or false")
		}
	}
	for k := range q {
		if k != "endpoint" && k != "region" && k != "path-style" {
			return bad("unknown parameter " + k)
		}
	}
	if o.Endpoint != "" {
		if e, err := url.Parse(o.Endpoint); err != nil || (e.Scheme != "http" && e.Scheme != "https") || e.Host == "" {
			return bad("endpoint is an http:// or https:// URL")
		}
	}
	return o, nil
}

// Driver stores blobs in one bucket under a prefix.
type Driver struct {
	client   *s3.Client
	presign  *s3.PresignClient
	bucket   string
	prefix   string // "" or "some/prefix/"
	partSize int64
	inFlight int           // parts of one upload sent at once
	spare    chan struct{} // a slot for each part in flight beyond its upload's first
	opts     Options
	cache    *markerCache
	bufs     sync.Pool // part buffers
}

var _ storage.Driver = (*Driver)(nil)

// New returns a driver for opts; it checks that the bucket can be reached.
func New(ctx context.Context, opts Options) (*Driver, error) {
	if opts.Bucket == "" {
		return nil, fmt.Errorf("s3 storage: no bucket: %w", errdefs.ErrInvalidArgument)
	}
	if opts.PartSize == 0 {
		opts.PartSize = 8 << 20
	}
	if opts.PartsInFlight == 0 {
		opts.PartsInFlight = 4
	}
	if opts.PartsInFlight < 1 {
		return nil, fmt.Errorf("s3 storage: %d parts in flight: at least one must be: %w", opts.PartsInFlight, errdefs.ErrInvalidArgument)
	}
	if opts.PartSize < minPart {
		return nil, fmt.Errorf("s3 storage: part size %d is below S3's 5 MiB: %w", opts.PartSize, errdefs.ErrInvalidArgument)
	}
	// The SDK's own client (it honours AWS_CA_BUNDLE), with room for the
	// connections concurrent uploads and pulls keep open.
	httpClient := awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 256, 256
	})
	loads := []func(*config.LoadOptions) error{config.WithHTTPClient(httpClient)}
	if opts.Region != "" {
		loads = append(loads, config.WithRegion(opts.Region))
	}
	if opts.Credentials != nil {
		loads = append(loads, config.WithCredentialsProvider(opts.Credentials))
	}
	cfg, err := config.LoadDefaultConfig(ctx, loads...)
	if err != nil {
		return nil, fmt.Errorf("s3 storage: AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		if opts.Endpoint != "" {
			o.BaseEndpoint = aws.String(opts.Endpoint)
		}
		o.UsePathStyle = opts.PathStyle
		// The SDK's retry quota, once a store outage has spent it, leaves
		// the first requests after the store is back without their retries;
		// requests are retried as their contexts allow instead.
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) { so.RateLimiter = ratelimit.None })
		// The hub checks every blob's digest itself; CRCs on top cost CPU
		// and some S3-API stores reject them.
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
	d := &Driver{client: client, presign: s3.NewPresignClient(client), bucket: opts.Bucket,
		partSize: opts.PartSize, inFlight: opts.PartsInFlight, spare: make(chan struct{}, spareParts/opts.PartSize),
		opts: opts, cache: newMarkerCache(4096)}
	if opts.Prefix != "" {
		d.prefix = strings.Trim(opts.Prefix, "/") + "/"
	}
	if _, err := client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &d.bucket}); err != nil {
		return nil, fmt.Errorf("s3 storage: bucket %s: %w", d.bucket, classify(err))
	}
	return d, nil
}

// Options are the driver's options (Credentials left out).
func (d *Driver) Options() Options {
	o := d.opts
	o.Credentials = nil
	return o
}

// MinChunk is S3's least part size: smaller chunks would be rewritten with
// the upload's tail on every PATCH.
func (d *Driver) MinChunk() int64 { return minPart }

func (d *Driver) key(parts ...string) string { return d.prefix + strings.Join(parts, "/") }

func (d *Driver) markerDir(dg digest.Digest) string {
	return d.key("blobs", dg.Algorithm().String(), dg.Encoded()) + "/"
}

// marker is where a blob's content is.
type marker struct {
	obj    string // the content is data/<obj>, or the marker itself
	size   int64
	inline bool // the marker holds the content
}

// markerOf reads a listed marker: one as long as the size it names holds
// the content (an empty blob's has nothing to read either way).
func markerOf(o types.Object) (marker, bool) {
	m, ok := parseMarker(lastElem(aws.ToString(o.Key)))
	m.inline = ok && m.size > 0 && aws.ToInt64(o.Size) == m.size
	return m, ok
}

// contentKey is where the content of blob dg, under marker m, is.
func (d *Driver) contentKey(dg digest.Digest, m marker) string {
	if m.inline {
		return d.markerDir(dg) + m.obj + "." + strconv.FormatInt(m.size, 10)
	}
	return d.dataKey(m.obj)
}

// parseMarker reads "<obj>.<size>".
func parseMarker(name string) (marker, bool) {
	i := strings.LastIndexByte(name, '.')
	if i < 0 {
		return marker{}, false
	}
	n, err := strconv.ParseInt(name[i+1:], 10, 64)
	if err != nil || n < 0 || !validObject(name[:i]) {
		return marker{}, false
	}
	return marker{obj: name[:i], size: n}, true
}

// validObject accepts the names of objects under data/: <id>.<random>, as
// uploads write them, or <id> (the first layout).
func validObject(name string) bool {
	id, r, two := strings.Cut(name, ".")
	return storage.CheckUploadID(id) == nil && (!two || storage.CheckUploadID(r) == nil)
}

// find returns blob dg's marker by listing, or from the cache when
// cached is true: only for a caller that notices when the object is gone
// (another node collected the blob) and asks again with cached false.
func (d *Driver) find(ctx context.Context, dg digest.Digest, cached bool) (marker, error) {
	if err := storage.CheckDigest(dg); err != nil {
		return marker{}, err
	}
	if m, ok := d.cache.get(dg); ok && cached {
		return m, nil
	}
	out, err := d.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &d.bucket, Prefix: aws.String(d.markerDir(dg)), MaxKeys: aws.Int32(10)})
	if err != nil {
		return marker{}, classify(err)
	}
	for _, o := range out.Contents {
		if m, ok := markerOf(o); ok {
			d.cache.put(dg, m)
			return m, nil
		}
	}
	return marker{}, fmt.Errorf("blob %s: %w", dg, errdefs.ErrNotFound)
}

// Stat returns the size of a blob, as the bucket holds it now.
func (d *Driver) Stat(ctx context.Context, dg digest.Digest) (int64, error) {
	m, err := d.find(ctx, dg, false)
	return m.size, err
}

// Open returns a blob's content, read with ranged GETs.
func (d *Driver) Open(ctx context.Context, dg digest.Digest) (io.ReadSeekCloser, error) {
	for attempt := 0; ; attempt++ {
		m, err := d.find(ctx, dg, attempt == 0)
		if err != nil {
			return nil, err
		}
		o := &object{ctx: ctx, d: d, dg: dg, key: d.contentKey(dg, m), size: m.size}
		err = o.open()
		if errdefs.IsNotFound(err) && attempt == 0 {
			continue // a remembered object that is gone: look again
		}
		if err != nil {
			return nil, err
		}
		return o, nil
	}
}

// Delete removes a blob's markers, then its content.
func (d *Driver) Delete(ctx context.Context, dg digest.Digest) error {
	if err := storage.CheckDigest(dg); err != nil {
		return err
	}
	d.cache.drop(dg)
	out, err := d.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &d.bucket, Prefix: aws.String(d.markerDir(dg))})
	if err != nil {
		return classify(err)
	}
	var objs []string
	for _, o := range out.Contents {
		if err := d.remove(ctx, aws.ToString(o.Key)); err != nil {
			return err
		}
		if m, ok := markerOf(o); ok && !m.inline {
			objs = append(objs, m.obj)
		}
	}
	for _, obj := range objs {
		if err := d.remove(ctx, d.dataKey(obj)); err != nil {
			return err
		}
	}
	return nil
}

// remove deletes one object; a missing one is not an error.
func (d *Driver) remove(ctx context.Context, key string) error {
	_, err := d.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &d.bucket, Key: &key})
	if err = classify(err); errdefs.IsNotFound(err) {
		return nil
	}
	return err
}

// list calls fn for every object under prefix, in key order.
func (d *Driver) list(ctx context.Context, prefix string, fn func(types.Object) error) error {
	p := s3.NewListObjectsV2Paginator(d.client, &s3.ListObjectsV2Input{Bucket: &d.bucket, Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return classify(err)
		}
		for _, o := range page.Contents {
			if err := fn(o); err != nil {
				return err
			}
		}
	}
	return nil
}

// Walk calls fn once for every blob that has a marker.
func (d *Driver) Walk(ctx context.Context, fn func(digest.Digest, int64, time.Time) error) error {
	base := d.key("blobs") + "/"
	var last digest.Digest
	return d.list(ctx, base, func(o types.Object) error {
		parts := strings.Split(strings.TrimPrefix(aws.ToString(o.Key), base), "/")
		if len(parts) != 3 {
			return nil // not ours
		}
		dg := digest.NewDigestFromEncoded(digest.Algorithm(parts[0]), parts[1])
		m, ok := parseMarker(parts[2])
		if !ok || dg.Validate() != nil || dg == last {
			return nil
		}
		last = dg
		return fn(dg, m.size, aws.ToTime(o.LastModified))
	})
}

// URL returns a presigned GET of a blob's content, valid for ttl, for
// clients to fetch from the store itself. It looks where the blob is
// (one LIST): a URL from the cache could name an object another node's
// collection deleted, and the client would get the store's 404.
func (d *Driver) URL(ctx context.Context, dg digest.Digest, ttl time.Duration) (string, error) {
	m, err := d.find(ctx, dg, false)
	if err != nil {
		return "", err
	}
	req, err := d.presign.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: &d.bucket, Key: aws.String(d.contentKey(dg, m))},
		s3.WithPresignExpires(ttl))
	if err != nil {
		return "", classify(err)
	}
	return req.URL, nil
}

// classify maps the store's answers onto errdefs: 404s are ErrNotFound;
// no answer, a throttle or a 5xx is ErrUnavailable.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var nsk *types.NoSuchKey
	var nb *types.NoSuchBucket
	var nf *types.NotFound
	var nu *types.NoSuchUpload
	var re *awshttp.ResponseError
	var ae smithy.APIError
	var ne net.Error
	var send *smithyhttp.RequestSendError
	switch {
	case errors.As(err, &nsk), errors.As(err, &nb), errors.As(err, &nf), errors.As(err, &nu):
		return fmt.Errorf("%w (%w)", errdefs.ErrNotFound, err)
	case errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound:
		return fmt.Errorf("%w (%w)", errdefs.ErrNotFound, err)
	case errors.As(err, &re) && (re.HTTPStatusCode() >= 500 || re.HTTPStatusCode() == http.StatusTooManyRequests):
		return fmt.Errorf("object store: %w (%w)", errdefs.ErrUnavailable, err)
	case errors.As(err, &ae) && (ae.ErrorCode() == "SlowDown" || ae.ErrorCode() == "ServiceUnavailable"):
		return fmt.Errorf("object store: %w (%w)", errdefs.ErrUnavailable, err)
	case errors.As(err, &send), errors.As(err, &ne), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET):
		return fmt.Errorf("object store: %w (%w)", errdefs.ErrUnavailable, err)
	}
	return err
}

// markerCache remembers where blobs are, for a minute. A digest's content
// never changes, but a collected blob pushed again gets a new object (and
// the collection may have run on another node): only Open trusts an
// entry, and one that finds the object gone looks again.
type markerCache struct {
	mu  sync.Mutex
	max int
	m   map[digest.Digest]cached
}

type cached struct {
	marker
	at time.Time
}

const markerTTL = time.Minute

func newMarkerCache(max int) *markerCache {
	return &markerCache{max: max, m: map[digest.Digest]cached{}}
}

func (c *markerCache) get(d digest.Digest) (marker, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[d]
	if !ok || time.Since(e.at) > markerTTL {
		return marker{}, false
	}
	return e.marker, true
}

func (c *markerCache) put(d digest.Digest, m marker) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		for k := range c.m { // evict an arbitrary entry: cheap, and good enough for a hint
			delete(c.m, k)
			break
		}
	}
	c.m[d] = cached{marker: m, at: time.Now()}
}

func (c *markerCache) drop(d digest.Digest) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, d)
}
