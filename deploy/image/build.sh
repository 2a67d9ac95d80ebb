#!/bin/sh
# build.sh [TAG]: build the hub's container image (default strata-hub:latest)
# from this checkout with `strata build`, as root. The strata that builds
# it is the one it contains, so no other tool is needed; STRATA_ROOT says
# where the image goes, as for any strata command.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
tag=${1:-strata-hub:latest}
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
(cd "$here/../.." && CGO_ENABLED=0 go build -o "$ctx/strata" ./cmd/strata)
cp /etc/ssl/certs/ca-certificates.crt "$ctx/"
mkdir "$ctx/hub"
"$ctx/strata" build -q -t "$tag" -f "$here/Dockerfile" "$ctx"
