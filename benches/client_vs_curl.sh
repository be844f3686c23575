#!/bin/sh
# Downloads a 1 GiB file from vsftpd on loopback with the example client (release build)
# and with curl, in the same run, and prints the median wall time of each and the ratio.
#
#   sh benches/client_vs_curl.sh [RUNS]      (default 5 runs each; needs vsftpd and curl)
#
# Run as root (vsftpd's anonymous root must be root-owned). Loopback only.
set -eu
RUNS=${1:-5}
cd "$(dirname "$0")/.."
cargo build --release --quiet --features tokio --example client
CLIENT=$PWD/target/release/examples/client
# suppaftp, the most used Rust FTP client, from its own bench-only crate.
(cd benches/suppaftp-client && cargo build --release --quiet)
SUPPAFTP=$PWD/benches/suppaftp-client/target/release/suppaftp-client

WORK=$(mktemp -d /tmp/ftp-proto-bench.XXXXXX)
VSFTPD_PID=
cleanup() {
    [ -n "$VSFTPD_PID" ] && kill "$VSFTPD_PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM
mkdir -p "$WORK/root" "$WORK/empty"
dd if=/dev/zero of="$WORK/root/big.bin" bs=1M count=1024 status=none

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
PASV=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$WORK/vsftpd.conf" <<CONF
listen=YES
listen_ipv6=NO
listen_address=127.0.0.1
listen_port=$PORT
anonymous_enable=YES
local_enable=NO
no_anon_password=YES
anon_root=$WORK/root
pasv_min_port=$PASV
pasv_max_port=$((PASV + 20))
seccomp_sandbox=NO
background=NO
secure_chroot_dir=$WORK/empty
xferlog_enable=NO
CONF
vsftpd "$WORK/vsftpd.conf" &
VSFTPD_PID=$!
for _ in $(seq 50); do
    if python3 -c "import socket; socket.create_connection(('127.0.0.1',$PORT))" 2>/dev/null; then break; fi
    sleep 0.1
done

URL=ftp://127.0.0.1:$PORT/big.bin
# One untimed download each warms the page cache.
"$CLIENT" get "$URL" -o /dev/null
curl -s -o /dev/null "$URL"
"$SUPPAFTP" "127.0.0.1:$PORT" big.bin >/dev/null

time_once() {
    python3 - "$@" <<'PY'
import subprocess, sys, time
start = time.perf_counter()
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)
print(f"{time.perf_counter() - start:.4f}")
PY
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

OURS=$WORK/ours; CURL=$WORK/curl; SUPPA=$WORK/suppaftp
: > "$OURS"; : > "$CURL"; : > "$SUPPA"
for _ in $(seq "$RUNS"); do
    time_once "$CLIENT" get "$URL" -o /dev/null >> "$OURS"
    time_once curl -s -o /dev/null "$URL" >> "$CURL"
    time_once "$SUPPAFTP" "127.0.0.1:$PORT" big.bin >> "$SUPPA"
done
O=$(median < "$OURS"); C=$(median < "$CURL"); S=$(median < "$SUPPA")
echo "RETR 1 GiB from vsftpd over loopback, median of $RUNS:"
echo "  ftp-proto example client: ${O} s"
echo "  curl:                     ${C} s"
echo "  suppaftp (sync):          ${S} s"
python3 -c "print(f'  ratio (ours / curl):      {$O / $C:.2f}')"
python3 -c "print(f'  ratio (ours / suppaftp):  {$O / $S:.2f}')"
