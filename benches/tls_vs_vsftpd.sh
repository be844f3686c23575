#!/usr/bin/env bash
# RETR of one large file over FTPS (AUTH TLS, PROT P), curl as the client, from our
# example server and from vsftpd, both on loopback in the same run. Prints each wall
# time (median of RUNS), the TLS version and cipher each server negotiated with curl,
# and our time as a ratio of vsftpd's: compare the ratio, not absolute times, on noisy
# machines.
#
# Usage: benches/tls_vs_vsftpd.sh [SIZE_MIB] [RUNS]   (defaults: 1024 MiB, 5 runs)
# Needs: curl, openssl, vsftpd, python3 (`.ci/run` installs the peers). Run as root for
# vsftpd (it insists on a root-owned chroot directory).
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE_MIB="${1:-1024}"
RUNS="${2:-5}"
source benches/common.sh
bench_work tls-bench

cargo build --release --example server --features tokio,tls >/dev/null 2>&1

mkdir -p "$WORK/root" "$WORK/empty"
head -c "$((SIZE_MIB * 1024 * 1024))" /dev/urandom > "$WORK/root/big.bin"
chmod 555 "$WORK/root"
# One certificate for both servers (curl -k does not check it).
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
    -keyout "$WORK/key.pem" -out "$WORK/cert.pem" \
    -addext "subjectAltName=IP:127.0.0.1" >/dev/null 2>&1

# Our server: anonymous reading, TLS required for login and data.
OURS=$(free_port)
./target/release/examples/server --root "$WORK/root" --listen "127.0.0.1:$OURS" \
    --anonymous --pasv-ports 43000-43999 --tls-cert "$WORK/cert.pem" \
    --tls-key "$WORK/key.pem" --require-tls >"$WORK/ours.log" 2>&1 &
PIDS+=($!)

# vsftpd: anonymous reading, TLS required for login and data, session reuse required.
VSFTPD=$(free_port)
cat >"$WORK/vsftpd.conf" <<EOF
listen=YES
listen_address=127.0.0.1
listen_port=$VSFTPD
background=NO
anonymous_enable=YES
anon_root=$WORK/root
no_anon_password=YES
local_enable=NO
seccomp_sandbox=NO
secure_chroot_dir=$WORK/empty
pasv_min_port=44000
pasv_max_port=44999
xferlog_enable=NO
ssl_enable=YES
rsa_cert_file=$WORK/cert.pem
rsa_private_key_file=$WORK/key.pem
allow_anon_ssl=YES
force_anon_logins_ssl=YES
force_anon_data_ssl=YES
require_ssl_reuse=YES
ssl_request_cert=NO
ssl_ciphers=HIGH
EOF
vsftpd "$WORK/vsftpd.conf" >"$WORK/vsftpd.log" 2>&1 &
PIDS+=($!)

wait_for_port "$OURS"; wait_for_port "$VSFTPD"

curl_tls() { # port, then curl arguments
    local port=$1; shift
    curl -sS --fail --ssl-reqd -k --user anonymous:x "$@" "ftp://127.0.0.1:$port/big.bin"
}
negotiated() { # port: "TLSv1.3 / TLS_AES_256_GCM_SHA384"
    curl_tls "$1" -v -I 2>&1 \
        | sed -n 's/.*SSL connection using \(.*\)$/\1/p' | head -n 1
}
time_retr() { # port
    for _ in $(seq 1 "$RUNS"); do
        start=$(seconds)
        curl_tls "$1" -o /dev/null || { echo "curl RETR over TLS failed on $1" >&2; exit 1; }
        end=$(seconds)
        python3 -c "print($end - $start)"
    done | median
}

ours_tls=$(negotiated "$OURS")
vsftpd_tls=$(negotiated "$VSFTPD")
ours_retr=$(time_retr "$OURS")
vsftpd_retr=$(time_retr "$VSFTPD")
load=$(cut -d' ' -f1-3 /proc/loadavg)

python3 - "$SIZE_MIB" "$RUNS" "$ours_retr" "$vsftpd_retr" "$ours_tls" "$vsftpd_tls" "$load" <<'EOF'
import sys
size, runs = int(sys.argv[1]), int(sys.argv[2])
ours, vs = float(sys.argv[3]), float(sys.argv[4])
print(f"median of {runs} runs, curl --ssl-reqd -k as the client, PROT P, loopback")
print(f"negotiated: ours {sys.argv[5]}; vsftpd {sys.argv[6]}; load average after: {sys.argv[7]}")
print("| workload | ours | vsftpd | ours/vsftpd | ours MiB/s | vsftpd MiB/s |")
print("|---|---|---|---|---|---|")
print(f"| RETR over TLS {size} MiB | {ours:.3f} s | {vs:.3f} s | {ours / vs:.2f} | "
      f"{size / ours:.0f} | {size / vs:.0f} |")
EOF
