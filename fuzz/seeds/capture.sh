#!/usr/bin/env bash
# Captures real control-connection traffic between real peers (curl, lftp, Python's
# ftplib, our example client) and real servers (ours, vsftpd, pyftpdlib) on loopback,
# and turns it into seed corpora for the session fuzzers:
#
#   bash fuzz/seeds/capture.sh        (run as root from the repository root)
#
# Writes fuzz/seeds/server_session/ and fuzz/seeds/client_session/ (committed), which
# the fuzz runs take as extra corpus directories.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --quiet --features tokio --example server --example client
SERVER=$PWD/target/debug/examples/server
CLIENT=$PWD/target/debug/examples/client
SEEDS=$PWD/fuzz/seeds
WORK=$(mktemp -d /tmp/ftp-proto-capture.XXXXXX)
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do python3 -c "import socket; socket.create_connection(('127.0.0.1',$1))" 2>/dev/null && return; sleep 0.1; done; echo "port $1 never opened" >&2; exit 1; }
proxy() { # proxy NAME TARGET_PORT: a recording proxy in front of it, on port $P
    P=$(free_port)
    python3 "$SEEDS/capture_proxy.py" "$P" "$2" "$WORK/capture/$1" >/dev/null 2>&1 & PIDS+=($!)
    wait_port "$P"
}
mkdir -p "$WORK/ours" "$WORK/vs/root" "$WORK/vs/empty" "$WORK/py" "$WORK/capture"
for dir in "$WORK/ours" "$WORK/vs/root" "$WORK/py"; do printf 'hello seed\r\n' > "$dir/seed.txt"; done

# Our server, writable for user u.
OURS=$(free_port)
"$SERVER" --listen "127.0.0.1:$OURS" --root "$WORK/ours" --user u:p >/dev/null 2>&1 & PIDS+=($!)
wait_port "$OURS"
proxy ours "$OURS"
python3 "$SEEDS/ftplib_session.py" "$P" u p 1
curl -s -o /dev/null "ftp://u:p@127.0.0.1:$P/"
curl -s -o /dev/null "ftp://u:p@127.0.0.1:$P/seed.txt"
curl -s -o /dev/null -C 4 "ftp://u:p@127.0.0.1:$P/seed.txt"
curl -s -T "$WORK/ours/seed.txt" "ftp://u:p@127.0.0.1:$P/put.txt"
curl -s -P - -o /dev/null "ftp://u:p@127.0.0.1:$P/seed.txt"
curl -s --disable-epsv -o /dev/null "ftp://u:p@127.0.0.1:$P/seed.txt"
lftp -u u,p -p "$P" -e "set net:max-retries 1; ls; cls -l; get seed.txt -o $WORK/l.txt; put $WORK/l.txt -o lput.txt; mkdir d; rmdir d; rm lput.txt; quit" 127.0.0.1 >/dev/null
"$CLIENT" ls "ftp://u:p@127.0.0.1:$P/" >/dev/null
"$CLIENT" get "ftp://u:p@127.0.0.1:$P/seed.txt" -o /dev/null

# vsftpd, anonymous and read-only.
VS=$(free_port); VP=$(free_port)
cat > "$WORK/vs.conf" <<CONF
listen=YES
listen_ipv6=NO
listen_address=127.0.0.1
listen_port=$VS
anonymous_enable=YES
local_enable=NO
no_anon_password=YES
anon_root=$WORK/vs/root
pasv_min_port=$VP
pasv_max_port=$((VP + 10))
seccomp_sandbox=NO
background=NO
secure_chroot_dir=$WORK/vs/empty
xferlog_enable=NO
CONF
vsftpd "$WORK/vs.conf" >/dev/null 2>&1 & PIDS+=($!)
wait_port "$VS"
proxy vsftpd "$VS"
python3 "$SEEDS/ftplib_session.py" "$P" anonymous guest 0
curl -s -o /dev/null "ftp://127.0.0.1:$P/"
curl -s -o /dev/null "ftp://127.0.0.1:$P/seed.txt"
"$CLIENT" ls "ftp://127.0.0.1:$P/" >/dev/null
"$CLIENT" get "ftp://127.0.0.1:$P/seed.txt" -o /dev/null

# pyftpdlib, writable.
PY=$(free_port)
python3 -m pyftpdlib -i 127.0.0.1 -p "$PY" -d "$WORK/py" -w -u u -P p >/dev/null 2>&1 & PIDS+=($!)
wait_port "$PY"
proxy pyftpdlib "$PY"
python3 "$SEEDS/ftplib_session.py" "$P" u p 1
curl -s -o /dev/null "ftp://u:p@127.0.0.1:$P/seed.txt"
"$CLIENT" ls "ftp://u:p@127.0.0.1:$P/" >/dev/null
"$CLIENT" put "$WORK/py/seed.txt" "ftp://u:p@127.0.0.1:$P/p.txt"
lftp -u u,p -p "$P" -e "set net:max-retries 1; ls; get seed.txt -o $WORK/l2.txt; quit" 127.0.0.1 >/dev/null

sleep 0.5 # let the proxies flush the last connections' logs
rm -rf "$SEEDS/server_session" "$SEEDS/client_session"
python3 "$SEEDS/make_seeds.py" "$WORK/capture/ours" "$WORK/capture/vsftpd" "$WORK/capture/pyftpdlib" \
    --server "$SEEDS/server_session" --client "$SEEDS/client_session"
