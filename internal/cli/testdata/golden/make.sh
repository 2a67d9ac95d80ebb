#!/usr/bin/env bash
# Regenerates the golden files that strata's image commands are checked
# against, with the real docker (Debian's docker.io 20.10) in a private
# dockerd. Run as root from anywhere; it writes beside itself:
#   golden.tar.gz     `docker save` (gzipped) of two images: an imported rootfs and an
#                     image built FROM it (COPY, ENV, LABEL, WORKDIR, ...)
#   *.txt, *.json     what `docker images/history/inspect` print for them in a
#                     fresh dockerd that only `docker load`ed golden.tar: the
#                     same situation as a strata store that loads it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/strata-golden-XXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; sleep 2; rm -rf "$work"; }
trap cleanup EXIT
docker=/usr/bin/docker

start() { # name
  local d=$work/$1
  mkdir -p "$d"
  dockerd --data-root "$d/data" --exec-root "$d/exec" --pidfile "$d/pid" -H "unix://$d/sock" \
    --storage-driver overlay2 --bridge=none --iptables=false --ip6tables=false --ip-forward=false \
    --ip-masq=false >"$d/log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do DOCKER_HOST=unix://$d/sock $docker version >/dev/null 2>&1 && return; sleep 0.2; done
  echo "dockerd did not start" >&2; exit 1
}

# A tiny deterministic rootfs: busybox with a few applets, fixed times.
mkdir -p "$work/rootfs/bin" "$work/rootfs/etc"
cp /bin/busybox "$work/rootfs/bin/busybox"
for a in sh ls cat echo; do ln -s busybox "$work/rootfs/bin/$a"; done
echo "golden" >"$work/rootfs/etc/hostname"
tar --sort=name --mtime=@1700000000 --owner=0 --group=0 --numeric-owner -C "$work/rootfs" -cf "$work/rootfs.tar" .

start build
export DOCKER_HOST=unix://$work/build/sock DOCKER_CONFIG=$work/cfg
$docker import --change 'CMD ["/bin/sh"]' --change 'ENV PATH=/bin' --message "golden base" "$work/rootfs.tar" golden/base:1 >/dev/null
mkdir -p "$work/ctx"
echo "hello from the golden image" >"$work/ctx/hello.txt"
cat >"$work/ctx/Dockerfile" <<'DOCKERFILE'
FROM golden/base:1
LABEL org.example.kind="golden" org.example.layer=2
ENV GREETING="hello world"
COPY hello.txt /srv/hello.txt
WORKDIR /srv
EXPOSE 8080/tcp
USER 1000:1000
ENTRYPOINT ["/bin/cat"]
CMD ["/srv/hello.txt"]
DOCKERFILE
DOCKER_BUILDKIT=0 $docker build -q -t golden/app:1 -t golden/app:latest "$work/ctx" >/dev/null
$docker save -o "$work/golden.tar" golden/app:1 golden/app:latest golden/base:1
gzip -9n <"$work/golden.tar" >"$here/golden.tar.gz"

# A fresh dockerd that knows only what it loaded.
start load
export DOCKER_HOST=unix://$work/load/sock
$docker load -i "$here/golden.tar.gz" >/dev/null
$docker images >"$here/images.txt"
$docker images --no-trunc >"$here/images-no-trunc.txt"
$docker images --digests >"$here/images-digests.txt"
$docker images -q >"$here/images-q.txt"
$docker images --format '{{.Repository}}:{{.Tag}} {{.ID}} {{.Size}}' >"$here/images-format.txt"
$docker images --format '{{json .}}' >"$here/images-json.txt"
$docker images --filter reference='golden/app' >"$here/images-filter-reference.txt"
$docker images --filter label=org.example.kind=golden >"$here/images-filter-label.txt"
$docker history golden/app:1 >"$here/history.txt"
$docker history --no-trunc golden/app:1 >"$here/history-no-trunc.txt"
$docker history -H=false golden/app:1 >"$here/history-H-false.txt"
$docker history -q golden/app:1 >"$here/history-q.txt"
$docker history --format '{{.ID}}|{{.CreatedBy}}|{{.Size}}|{{.Comment}}' golden/app:1 >"$here/history-format.txt"
$docker history golden/base:1 >"$here/history-base.txt"
$docker image inspect golden/app:1 golden/base:1 >"$here/inspect.json"
$docker image inspect -f '{{.Config.Cmd}} {{json .RootFS}} {{.Size}}' golden/app:1 >"$here/inspect-format.txt"
echo "golden files written to $here"
