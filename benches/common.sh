# Shared by the benchmark scripts under benches/ (sourced, not run): a work directory
# removed on exit with the servers started into PIDS, free loopback ports, and the
# median of a column of numbers.
#
# Usage, after `set -euo pipefail` and `cd` to the repository:
#   bench_work NAME        WORK=/tmp/ftp-proto-NAME.XXXXXX, cleaned up with PIDS on exit

bench_work() {
    WORK="$(mktemp -d "/tmp/ftp-proto-$1.XXXXXX")"
    PIDS=()
    trap bench_cleanup EXIT
}

bench_cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}

# A free TCP port on 127.0.0.1 (bound to port 0, then released).
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Waits until something accepts connections on 127.0.0.1:PORT, for at most 15 s.
wait_for_port() {
    for _ in $(seq 1 150); do
        if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$1),1)" 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "nothing listening on $1" >&2; return 1
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
seconds() { python3 -c 'import time; print(time.monotonic())'; }
