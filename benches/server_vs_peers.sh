#!/usr/bin/env bash
# RETR and STOR of one large file, curl as the client, against our example server,
# vsftpd and pyftpdlib, all on loopback in the same run. Prints each wall time (median
# of RUNS) and our time as a ratio of each peer's: compare ratios, not absolute times,
# on noisy machines.
#
# Usage: benches/server_vs_peers.sh [SIZE_MIB] [RUNS]   (defaults: 1024 MiB, 5 runs)
# Needs: curl, vsftpd, python3 with pyftpdlib (`.ci/run` installs them). Run as root for
# vsftpd (it insists on a root-owned chroot directory).
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE_MIB="${1:-1024}"
RUNS="${2:-5}"
source benches/common.sh
bench_work bench

cargo build --release --example server --features tokio >/dev/null 2>&1

mkdir -p "$WORK/root/upload" "$WORK/empty" "$WORK/pyroot"
head -c "$((SIZE_MIB * 1024 * 1024))" /dev/urandom > "$WORK/root/big.bin"
cp "$WORK/root/big.bin" "$WORK/source.bin"
ln "$WORK/root/big.bin" "$WORK/pyroot/big.bin" 2>/dev/null || cp "$WORK/root/big.bin" "$WORK/pyroot/big.bin"
chmod 777 "$WORK/root/upload"
chown ftp "$WORK/root/upload" 2>/dev/null || true
chmod 555 "$WORK/root"

# Our server: anonymous reading, user bench:bench writing.
OURS=$(free_port)
./target/release/examples/server --root "$WORK/root" --listen "127.0.0.1:$OURS" \
    --user bench:bench --anonymous --pasv-ports 40000-40999 >"$WORK/ours.log" 2>&1 &
PIDS+=($!)

# vsftpd: anonymous reading, anonymous upload into /upload.
VSFTPD=$(free_port)
cat >"$WORK/vsftpd.conf" <<EOF
listen=YES
listen_address=127.0.0.1
listen_port=$VSFTPD
background=NO
anonymous_enable=YES
anon_root=$WORK/root
no_anon_password=YES
write_enable=YES
anon_upload_enable=YES
anon_other_write_enable=YES
local_enable=NO
seccomp_sandbox=NO
secure_chroot_dir=$WORK/empty
pasv_min_port=41000
pasv_max_port=41999
xferlog_enable=NO
EOF
vsftpd "$WORK/vsftpd.conf" >"$WORK/vsftpd.log" 2>&1 &
PIDS+=($!)

# pyftpdlib: user bench:bench, read and write.
PYFTPD=$(free_port)
python3 -m pyftpdlib -i 127.0.0.1 -p "$PYFTPD" -w -u bench -P bench -d "$WORK/pyroot" \
    -r 42000-42999 >"$WORK/pyftpdlib.log" 2>&1 &
PIDS+=($!)

wait_for_port "$OURS"; wait_for_port "$VSFTPD"; wait_for_port "$PYFTPD"

time_retr() { # port user
    for _ in $(seq 1 "$RUNS"); do
        start=$(seconds)
        curl -sS --fail --user "$2" -o /dev/null "ftp://127.0.0.1:$1/big.bin" || { echo "curl RETR failed on $1" >&2; exit 1; }
        end=$(seconds)
        python3 -c "print($end - $start)"
    done | median
}
time_stor() { # port user path
    for i in $(seq 1 "$RUNS"); do
        start=$(seconds)
        curl -sS --fail --user "$2" -T "$WORK/source.bin" "ftp://127.0.0.1:$1/$3$i.bin" || { echo "curl STOR failed on $1" >&2; exit 1; }
        end=$(seconds)
        python3 -c "print($end - $start)"
        rm -f "$WORK/root/upload/$i.bin" "$WORK/pyroot/$i.bin" "$WORK/root/$i.bin"
    done | median
}

chmod 755 "$WORK/root"
ours_retr=$(time_retr "$OURS" anonymous:x)
vsftpd_retr=$(time_retr "$VSFTPD" anonymous:x)
py_retr=$(time_retr "$PYFTPD" bench:bench)
chmod 755 "$WORK/root"
ours_stor=$(time_stor "$OURS" bench:bench "")
py_stor=$(time_stor "$PYFTPD" bench:bench "")
vsftpd_stor=$(time_stor "$VSFTPD" anonymous:x "upload/")

python3 - "$SIZE_MIB" "$RUNS" "$ours_retr" "$vsftpd_retr" "$py_retr" "$ours_stor" "$vsftpd_stor" "$py_stor" <<'EOF'
import sys
size, runs = int(sys.argv[1]), int(sys.argv[2])
ours_r, vs_r, py_r, ours_s, vs_s, py_s = map(float, sys.argv[3:])
def row(name, ours, vs, py):
    print(f"| {name} {size} MiB | {ours:.3f} s | {vs:.3f} s | {py:.3f} s | "
          f"{ours / vs:.2f} | {ours / py:.2f} | {ours / min(vs, py):.2f} |")
print(f"median of {runs} runs, curl as the client, loopback")
print("| workload | ours | vsftpd | pyftpdlib | ours/vsftpd | ours/pyftpdlib | ours/fastest |")
print("|---|---|---|---|---|---|---|")
row("RETR", ours_r, vs_r, py_r)
row("STOR", ours_s, vs_s, py_s)
EOF
