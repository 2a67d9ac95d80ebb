package image

import (
	"errors"
	"reflect"
	"testing"

	"github.com/strata-dev/strata/internal/errdefs"
)

func TestApplyChange(t *testing.T) {
	var c ContainerConfig
	for _, ch := range []string{
		`CMD ["/bin/sh", "-c", "echo hi"]`, `ENTRYPOINT /bin/init --flag`, `ENV PATH=/bin:/usr/bin HOME="/root dir"`,
		`ENV LEGACY some value`, `WORKDIR /work`, `USER 1000:1000`, `LABEL a=b "c"="d e"`, `EXPOSE 80 53/udp`,
		`VOLUME ["/data"]`, `STOPSIGNAL SIGTERM`, `ONBUILD RUN true`, `env PATH=/sbin`,
	} {
		if err := ApplyChange(&c, ch); err != nil {
			t.Fatalf("ApplyChange(%q): %v", ch, err)
		}
	}
	want := ContainerConfig{
		Cmd: []string{"/bin/sh", "-c", "echo hi"}, Entrypoint: []string{"/bin/sh", "-c", "/bin/init --flag"},
		Env: []string{"PATH=/sbin", "HOME=/root dir", "LEGACY=some value"}, WorkingDir: "/work", User: "1000:1000",
		Labels: map[string]string{"a": "b", "c": "d e"}, ExposedPorts: map[string]struct{}{"80/tcp": {}, "53/udp": {}},
		Volumes: map[string]struct{}{"/data": {}}, StopSignal: "SIGTERM", OnBuild: []string{"RUN true"},
	}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("config = %+v\nwant %+v", c, want)
	}
}

func TestApplyChangeInvalid(t *testing.T) {
	for _, ch := range []string{"RUN rm -rf /", "CMD", "EXPOSE http", "EXPOSE 70000", "LABEL novalue", `LABEL a="open`, "ENV =x", ""} {
		var c ContainerConfig
		if err := ApplyChange(&c, ch); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("ApplyChange(%q) = %v, want an invalid-argument error", ch, err)
		}
	}
}
