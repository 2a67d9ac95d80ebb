package testutil

import (
	"strings"
	"testing"
)

// The harness itself: each peer starts, answers, and stops with the test.
func TestPeersStart(t *testing.T) {
	t.Run("docker", func(t *testing.T) {
		d := StartDocker(t)
		if out := d.Run(t, "version", "--format", "{{.Server.Version}}"); strings.TrimSpace(out) == "" {
			t.Fatal("dockerd reported no version")
		}
	})
	t.Run("distribution", func(t *testing.T) {
		r := StartDistribution(t, "alice:secret")
		if r.Addr == "" {
			t.Fatal("no address")
		}
	})
	t.Run("podman", func(t *testing.T) {
		p := NewPodman(t)
		if out := p.Run(t, "images", "-q"); strings.TrimSpace(out) != "" {
			t.Fatalf("a new private podman store has images: %q", out)
		}
	})
}
