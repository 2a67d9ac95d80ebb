package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path"
	"strings"

	"github.com/strata-dev/strata/bench/internal/workdir"
	"github.com/strata-dev/strata/internal/testutil/engines"
)

// enginesSetup is the hub past one machine: a private PostgreSQL (fsync
// on) and SeaweedFS for both strata hubs (one serving blobs itself, one
// redirecting pulls to the store) and for distribution's own s3 driver.
type enginesSetup struct {
	pg   *engines.Postgres
	weed *engines.SeaweedFS
}

func (e *enginesSetup) stop() {
	if e.pg != nil {
		e.pg.Remove()
	}
	if e.weed != nil {
		e.weed.Remove()
	}
}

// startOnEngines starts strata (blobs in S3, metadata in PostgreSQL), the
// same with --redirect, and distribution with its s3 driver, all on one
// SeaweedFS, each in a bucket of its own.
func startOnEngines(ctx context.Context, work string) ([]*registry, *enginesSetup, error) {
	e := &enginesSetup{}
	var err error
	if e.pg, err = engines.StartPostgres(engines.PostgresOptions{Durable: true, Statements: true}); err != nil {
		return nil, e, err
	}
	root, _ := os.Getwd()
	if e.weed, err = engines.StartSeaweedFS(root); err != nil {
		return nil, e, err
	}
	bin, err := workdir.BuildStrata(ctx, work)
	if err != nil {
		return nil, e, err
	}
	reg, err := exec.LookPath("docker-registry")
	if err != nil {
		return nil, e, fmt.Errorf("docker-registry (Debian's distribution 2.8.2) is not installed: apt-get install docker-registry")
	}
	// Credentials come from the standard AWS environment, as in production.
	// distribution 2.8.2's s3 driver panics on AWS_CA_BUNDLE ("unsupported
	// transport"), so it goes for everyone; strata's tests run with it set.
	for _, kv := range e.weed.Env() {
		k, v, _ := strings.Cut(kv, "=")
		os.Setenv(k, v)
	}
	os.Unsetenv("AWS_CA_BUNDLE")
	var regs []*registry
	for _, s := range []struct {
		name  string
		extra []string
	}{{"strata", nil}, {"strata-redirect", []string{"--redirect"}}} {
		bucket, err := e.weed.NewBucket(ctx, s.name)
		if err != nil {
			return regs, e, err
		}
		db, err := e.pg.NewDatabase(ctx, s.name)
		if err != nil {
			return regs, e, err
		}
		addr := workdir.FreeAddr()
		args := append([]string{"hub", "serve", "--open", "--addr", addr, "--data-dir", workPath(work, s.name+"-data"),
			"--gc-interval", "-1s", "--storage", e.weed.URL(bucket, "hub"), "--database", db}, s.extra...)
		r, err := start(ctx, work, s.name, addr, bin, args...)
		if err != nil {
			return regs, e, err
		}
		r.probe = &probe{weed: e.weed, pg: e.pg, bucket: bucket, db: path.Base(strings.SplitN(db, "?", 2)[0])}
		regs = append(regs, r)
	}
	bucket, err := e.weed.NewBucket(ctx, "distribution")
	if err != nil {
		return regs, e, err
	}
	dAddr := workdir.FreeAddr()
	cfg := e.weed.DistributionConfig(bucket, dAddr)
	if err := os.WriteFile(workPath(work, "distribution.yml"), []byte(cfg), 0o644); err != nil {
		return regs, e, err
	}
	dist, err := start(ctx, work, "distribution", dAddr, reg, "serve", workPath(work, "distribution.yml"))
	if err != nil {
		return regs, e, err
	}
	dist.probe = &probe{weed: e.weed, bucket: bucket}
	return append(regs, dist), e, nil
}
