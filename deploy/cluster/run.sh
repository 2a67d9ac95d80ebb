#!/bin/sh
# run.sh: a strata hub of three nodes on one machine, to copy and adapt.
#
#   PostgreSQL on 127.0.0.1:5433      the metadata (database "hub")
#   SeaweedFS, S3 on 127.0.0.1:8333   the blobs (bucket "hub")
#   strata hub serve x3               127.0.0.1:5001-5003 (node1-3.toml)
#   haproxy on :5000                  the hub's one address (haproxy.cfg)
#
# Everything runs in the foreground under this script, with its data and
# logs in ./state; Ctrl-C stops it all (haproxy and the nodes first, which
# drain). Run it
# again to start on the same data. In production each part runs on its
# own machines (a managed PostgreSQL, any S3-API store, the nodes behind
# the balancer you have); the configs stay the same but for addresses.
#
# Needs: strata (STRATA=path, default from PATH), Debian's postgresql and
# haproxy, and weed (SeaweedFS; WEED=path). As root, PostgreSQL runs as
# the postgres user.
set -eu
cd "$(dirname "$0")"
STRATA=${STRATA:-strata}
WEED=${WEED:-weed}
STATE=state
mkdir -p "$STATE/logs"

# The S3 store's credentials, in the environment every AWS tool reads.
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-strata-hub}
export AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-change-me-strata-hub-secret}
export AWS_REGION=us-east-1

front="" # haproxy and the nodes
back=""  # what they stand on
# end PIDS: SIGTERM, then SIGKILL whatever still runs after 15s.
end() {
	for p in $1; do kill -TERM "$p" 2>/dev/null || true; done
	for _ in $(seq 30); do
		alive=""
		for p in $1; do kill -0 "$p" 2>/dev/null && alive=1; done
		[ -n "$alive" ] || return 0
		sleep 0.5
	done
	for p in $1; do kill -KILL "$p" 2>/dev/null || true; done
}
stop() {
	trap - INT TERM EXIT
	echo "stopping"
	end "$front" # the nodes drain first
	end "$back"
}
trap stop INT TERM EXIT

wait_for() { # what, command...
	what=$1; shift
	i=0
	until "$@" >/dev/null 2>&1; do
		i=$((i + 1))
		if [ $i -gt 120 ]; then echo "$what did not come up: see $STATE/logs" >&2; exit 1; fi
		sleep 0.5
	done
}

# PostgreSQL.
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
as_pg=""
if [ "$(id -u)" = 0 ]; then as_pg="runuser -u postgres --"; fi
if [ ! -d "$STATE/pg" ]; then
	mkdir -p "$STATE/pg"
	[ -z "$as_pg" ] || chown postgres "$STATE/pg"
	$as_pg "$pgbin/initdb" -D "$STATE/pg" -A trust -U postgres -E UTF8 --locale=C >"$STATE/logs/initdb.log"
fi
$as_pg "$pgbin/postgres" -D "$STATE/pg" -h 127.0.0.1 -p 5433 -k /tmp -c max_connections=300 \
	>"$STATE/logs/postgres.log" 2>&1 &
back="$! $back"
wait_for PostgreSQL "$pgbin/pg_isready" -h 127.0.0.1 -p 5433
"$pgbin/psql" -h 127.0.0.1 -p 5433 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'hub'" | grep -q 1 ||
	"$pgbin/createdb" -h 127.0.0.1 -p 5433 -U postgres hub

# SeaweedFS: master, volume, filer and S3 gateway in one process.
cat >"$STATE/s3.json" <<JSON
{"identities":[{"name":"hub","credentials":[{"accessKey":"$AWS_ACCESS_KEY_ID","secretKey":"$AWS_SECRET_ACCESS_KEY"}],
 "actions":["Admin","Read","Write","List","Tagging"]}]}
JSON
mkdir -p "$STATE/weed"
"$WEED" server -dir="$STATE/weed" -ip=127.0.0.1 -ip.bind=127.0.0.1 -master.port=9333 -volume.port=8080 \
	-filer -filer.port=8888 -s3 -s3.port=8333 -s3.config="$STATE/s3.json" -master.volumeSizeLimitMB=1024 \
	>"$STATE/logs/weed.log" 2>&1 &
back="$! $back"
wait_for "SeaweedFS's S3 API" sh -c 'curl -s -o /dev/null http://127.0.0.1:8333/'
bucket_ready() { echo "s3.bucket.list" | "$WEED" shell -master=127.0.0.1:9333 2>/dev/null | grep -qw hub; }
make_bucket() {
	bucket_ready && return
	echo "s3.bucket.create -name hub" | "$WEED" shell -master=127.0.0.1:9333 >/dev/null 2>&1
	bucket_ready
}
wait_for "the bucket" make_bucket

# The first administrator (once).
if ! "$STRATA" hub user ls --config node1.toml 2>/dev/null | tail -n +2 | grep -q .; then
	echo "${HUB_ADMIN_PASSWORD:-change-me-admin}" | "$STRATA" hub user create --admin "${HUB_ADMIN:-operator}" --password-stdin --config node1.toml
fi

# Three nodes. The first to start migrates the database; the others wait for it.
for n in 1 2 3; do
	"$STRATA" hub serve --config node$n.toml >"$STATE/logs/node$n.log" 2>&1 &
	front="$! $front"
	wait_for "node $n" curl -sf "http://127.0.0.1:500$n/readyz"
done

# haproxy in front.
haproxy -db -f haproxy.cfg >"$STATE/logs/haproxy.log" 2>&1 &
front="$! $front"
wait_for haproxy curl -sf http://127.0.0.1:5000/readyz

echo "the hub is at http://localhost:5000 (the administrator: \$HUB_ADMIN, default operator; password \$HUB_ADMIN_PASSWORD, default change-me-admin)"
echo "haproxy's view of the nodes: http://127.0.0.1:8404/stats; Ctrl-C stops everything"
wait
