package filesystem_test

import (
	"testing"

	"github.com/strata-dev/strata/internal/hub/storage"
	"github.com/strata-dev/strata/internal/hub/storage/filesystem"
	"github.com/strata-dev/strata/internal/hub/storage/storagetest"
)

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Driver {
		d, err := filesystem.New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return d
	})
}
