#!/usr/bin/env bash
# Peak resident memory of our server and pyftpdlib under the same load, in one run
# (issue 16): DOWNLOADS simultaneous curl downloads of a DOWN_MIB file and UPLOADS
# simultaneous curl uploads of an UP_MIB file, each server in turn, a fresh process each
# time. Prints each server's VmHWM (peak RSS) and ours over pyftpdlib's (target <= 1).
#
# Usage: benches/memory_under_load.sh [ROUNDS]   (default 3; the median is printed)
# Environment: DOWNLOADS [64], UPLOADS [32], DOWN_MIB [32], UP_MIB [16],
# FEATURES [--all-features] for the cargo build of our example server.
# Needs curl, python3 with pyftpdlib. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/common.sh

ROUNDS="${1:-3}"
DOWNLOADS="${DOWNLOADS:-64}"
UPLOADS="${UPLOADS:-32}"
DOWN_MIB="${DOWN_MIB:-32}"
UP_MIB="${UP_MIB:-16}"
FEATURES="${FEATURES:---all-features}"

cargo build --release --quiet $FEATURES --example server
bench_work memory-load
mkdir -p "$WORK/root/up" "$WORK/src"
head -c "$((DOWN_MIB << 20))" /dev/urandom >"$WORK/root/down.bin"
head -c "$((UP_MIB << 20))" /dev/urandom >"$WORK/src/up.bin"

# Runs the load against 127.0.0.1:$1 as user u:p; fails if any transfer fails.
load() {
    local port=$1 pids=() failed=0 pid i
    for i in $(seq 1 "$DOWNLOADS"); do
        curl -s --max-time 300 -u u:p -o /dev/null "ftp://127.0.0.1:$port/down.bin" & pids+=($!)
    done
    for i in $(seq 1 "$UPLOADS"); do
        curl -s --max-time 300 -u u:p -T "$WORK/src/up.bin" "ftp://127.0.0.1:$port/up/u$i.bin" & pids+=($!)
    done
    for pid in "${pids[@]}"; do wait "$pid" || failed=$((failed + 1)); done
    [ "$failed" -eq 0 ] || { echo "$failed transfers failed on port $port" >&2; return 1; }
}

peak_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }

# One round for one server: start it, load it, read its peak, stop it.
round() {
    local name=$1 port server
    port=$(free_port)
    rm -f "$WORK"/root/up/*
    case "$name" in
        ours)
            target/release/examples/server --listen "127.0.0.1:$port" --root "$WORK/root" \
                --user u:p --max-sessions 1000 --max-per-ip 1000 >/dev/null 2>&1 &
            server=$! ;;
        pyftpdlib)
            python3 -c "
import logging
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer
logging.basicConfig(level=logging.WARNING)
a = DummyAuthorizer(); a.add_user('u', 'p', '$WORK/root', perm='elradfmw')
FTPHandler.authorizer = a
FTPServer(('127.0.0.1', $port), FTPHandler).serve_forever()" >/dev/null 2>&1 &
            server=$! ;;
    esac
    PIDS+=("$server")
    wait_for_port "$port" >&2
    load "$port" >&2
    peak_kib "$server"
    kill "$server"; wait "$server" 2>/dev/null || true
}

declare -A peaks
for r in $(seq 1 "$ROUNDS"); do
    for name in ours pyftpdlib; do
        peaks[$name]+="$(round "$name") "
    done
done
ours=$(printf '%s\n' ${peaks[ours]} | median)
py=$(printf '%s\n' ${peaks[pyftpdlib]} | median)
echo "load: $DOWNLOADS downloads of $DOWN_MIB MiB + $UPLOADS uploads of $UP_MIB MiB, curl, median of $ROUNDS"
echo "peak RSS (VmHWM): ours $((ours / 1024)) MiB (runs: ${peaks[ours]}KiB), pyftpdlib $((py / 1024)) MiB (runs: ${peaks[pyftpdlib]}KiB)"
python3 -c "print(f'ratio ours/pyftpdlib: {$ours/$py:.2f} (target <= 1)')"
