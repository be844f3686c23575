#!/usr/bin/env bash
# RETR and STOR of one large file, curl as the client, through our example server over
# a one-node Garage (object-store back end) and over the local file system, on
# loopback in the same run. Prints each wall time (median of RUNS) and Garage's time
# as a ratio of the local one: compare ratios, not absolute times, on noisy machines.
#
# Usage: benches/object_store_vs_local.sh [SIZE_MIB] [RUNS]   (defaults: 256 MiB, 3 runs)
# Needs: curl, python3, garage (`.ci/run` installs them; `garage` on the PATH or in
# cargo's bin directory).
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE_MIB="${1:-256}"
RUNS="${2:-3}"
source benches/common.sh
bench_work object-bench

GARAGE="$(command -v garage || echo "${CARGO_HOME:-$HOME/.cargo}/bin/garage")"
[ -x "$GARAGE" ] || { echo "garage is not installed (see .ci/run)" >&2; exit 1; }

# Retries a garage CLI command while the node starts, for at most 30 s.
garage_cli() {
    for _ in $(seq 1 300); do
        if "$GARAGE" -c "$WORK/garage.toml" "$@" 2>"$WORK/garage-cli.err"; then return 0; fi
        sleep 0.1
    done
    cat "$WORK/garage-cli.err" >&2; return 1
}

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
cargo build --release --example server --features tokio,object-store >/dev/null 2>&1

# A one-node Garage on free loopback ports.
RPC=$(free_port); S3=$(free_port); ADMIN=$(free_port)
cat >"$WORK/garage.toml" <<EOF
metadata_dir = "$WORK/garage-meta"
data_dir = "$WORK/garage-data"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:$RPC"
rpc_public_addr = "127.0.0.1:$RPC"
rpc_secret = "$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$S3"
root_domain = ".s3.garage.localhost"
[admin]
api_bind_addr = "127.0.0.1:$ADMIN"
EOF
RUST_LOG=warn "$GARAGE" -c "$WORK/garage.toml" server >"$WORK/garage.log" 2>&1 &
PIDS+=($!)
NODE=$(garage_cli node id -q | cut -d@ -f1)
garage_cli layout assign -z dc1 -c 10G "$NODE" >/dev/null
garage_cli layout apply --version 1 >/dev/null
garage_cli bucket create bench >/dev/null
garage_cli key create bench-key >"$WORK/key.txt"
garage_cli bucket allow --read --write --owner bench --key bench-key >/dev/null
wait_for_port "$S3"
AWS_ACCESS_KEY_ID=$(awk -F': *' '/^Key ID:/ {print $2}' "$WORK/key.txt")
AWS_SECRET_ACCESS_KEY=$(awk -F': *' '/^Secret key:/ {print $2}' "$WORK/key.txt")
export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_REGION=garage

mkdir -p "$WORK/root"
head -c "$((SIZE_MIB * 1024 * 1024))" /dev/urandom >"$WORK/source.bin"

LOCAL=$(free_port)
./target/release/examples/server --root "$WORK/root" --listen "127.0.0.1:$LOCAL" \
    --user bench:bench --pasv-ports 43000-43999 >"$WORK/local.log" 2>&1 &
PIDS+=($!)
OBJECT=$(free_port)
./target/release/examples/server --s3-endpoint "http://127.0.0.1:$S3" --s3-bucket bench \
    --listen "127.0.0.1:$OBJECT" --user bench:bench --pasv-ports 44000-44999 \
    >"$WORK/object.log" 2>&1 &
PIDS+=($!)
wait_for_port "$LOCAL"; wait_for_port "$OBJECT"

time_stor() { # port
    for _ in $(seq 1 "$RUNS"); do
        start=$(seconds)
        curl -sS --fail --user bench:bench -T "$WORK/source.bin" "ftp://127.0.0.1:$1/big.bin" \
            || { echo "curl STOR failed on $1" >&2; exit 1; }
        end=$(seconds)
        python3 -c "print($end - $start)"
    done | median
}
time_retr() { # port
    for _ in $(seq 1 "$RUNS"); do
        start=$(seconds)
        curl -sS --fail --user bench:bench -o /dev/null "ftp://127.0.0.1:$1/big.bin" \
            || { echo "curl RETR failed on $1" >&2; exit 1; }
        end=$(seconds)
        python3 -c "print($end - $start)"
    done | median
}

local_stor=$(time_stor "$LOCAL")
object_stor=$(time_stor "$OBJECT")
local_retr=$(time_retr "$LOCAL")
object_retr=$(time_retr "$OBJECT")

# The figures mean nothing if the bytes are wrong: check one download from each.
for port in "$LOCAL" "$OBJECT"; do
    curl -sS --fail --user bench:bench -o "$WORK/check.bin" "ftp://127.0.0.1:$port/big.bin"
    cmp -s "$WORK/source.bin" "$WORK/check.bin" || { echo "download from $port differs" >&2; exit 1; }
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

python3 - "$SIZE_MIB" "$RUNS" "$local_retr" "$object_retr" "$local_stor" "$object_stor" <<'EOF'
import sys
size, runs = int(sys.argv[1]), int(sys.argv[2])
local_r, object_r, local_s, object_s = map(float, sys.argv[3:])
def row(name, local, garage):
    print(f"| {name} {size} MiB | {local:.3f} s | {garage:.3f} s | "
          f"{size / local:.0f} MiB/s | {size / garage:.0f} MiB/s | {garage / local:.2f} |")
print(f"median of {runs} runs, curl as the client, loopback, one-node Garage (sqlite)")
print("| workload | local fs | Garage | local rate | Garage rate | Garage/local |")
print("|---|---|---|---|---|---|")
row("RETR", local_r, object_r)
row("STOR", local_s, object_s)
EOF
