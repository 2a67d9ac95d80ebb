package testutil

import (
	"context"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/strata-dev/strata/internal/hub"
)

// Hub is strata's hub served in process on a loopback port for one test.
type Hub struct {
	Addr string // 127.0.0.1:port, plain http
	Dir  string // its data directory
	Deps hub.Deps
}

// StartHub serves an open hub (no accounts: anyone may push and pull) with
// its data in a temporary directory (unless cfg.DataDir names one) until
// the test ends. cfg may set the collector's timings and engines; Addr and
// Open are the helper's.
// StartAccountsHub serves one with accounts.
func StartHub(t testing.TB, cfg hub.Config) *Hub {
	t.Helper()
	cfg.Open = true
	return startHub(t, cfg)
}

func startHub(t testing.TB, cfg hub.Config) *Hub {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	log := slog.New(slog.DiscardHandler)
	if os.Getenv("STRATA_TEST_HUB_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	deps, err := hub.Open(context.Background(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := hub.HTTPServer(cfg, deps)
	go srv.Serve(l)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		deps.Meta.Close()
	})
	return &Hub{Addr: l.Addr().String(), Dir: cfg.DataDir, Deps: deps}
}
