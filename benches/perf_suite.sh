#!/usr/bin/env bash
# Our server and client side by side with vsftpd, pyftpdlib, libunftp, curl and suppaftp,
# all in one run on loopback (issue 10). Prints a table of the server rows and one of the
# client row: each workload's median per server (or client), our ratio against the best
# peer, and whether the target is met. The work is done by benches/perf_suite.py.
#
# Usage: benches/perf_suite.sh [SIZE_MIB] [RUNS]     (defaults: 1024 MiB, 5 runs)
#
# Smaller workloads through the environment (defaults in brackets): FILES [1000],
# FILE_KIB [64], NOOPS [500000], SESSIONS ["1000 10000"], CONCURRENCY [32]; any further
# arguments go to benches/perf_suite.py (e.g. --only retr noops sessions1000 client).
# FEATURES [--all-features] chooses the cargo features of our example server and client.
#
# Needs (Debian/Ubuntu, as root):
#   apt-get install -y curl vsftpd python3 python3-pip
#   python3 -m pip install pyftpdlib        # as .ci/run does (in a venv on a system
#                                           # Python that refuses pip installs)
#   systemctl stop vsftpd                   # if the package started one on port 21
# and a Rust toolchain: the script builds our example server and client (release) and
# the bench-only crates under benches/ (libunftp-server, suppaftp-client, load-driver:
# each its own workspace, outside the package). Run as root
# (vsftpd insists on a root-owned anonymous root). Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE_MIB="${1:-1024}"
RUNS="${2:-5}"
shift $(($# > 2 ? 2 : $#))

missing=()
for program in curl vsftpd python3 cargo; do
    command -v "$program" >/dev/null 2>&1 || missing+=("$program")
done
python3 -c 'import pyftpdlib' 2>/dev/null || missing+=("pyftpdlib (python3 -m pip install pyftpdlib)")
if [ "${#missing[@]}" -gt 0 ]; then
    echo "missing: ${missing[*]}; see the head of $0 for how to install the peers" >&2
    exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "run as root: vsftpd needs it" >&2
    exit 1
fi

# The 10,000-session row needs more than 10,000 descriptors in the driver and in each
# single-process server: raise the soft limit to the hard one.
before=$(ulimit -n)
hard=$(ulimit -Hn)
ulimit -n "$hard" 2>/dev/null || ulimit -n "$(cat /proc/sys/fs/nr_open)"
echo "open files: soft limit $before, raised to $(ulimit -n) (hard limit $hard)"
echo "processes: kernel.pid_max $(cat /proc/sys/kernel/pid_max), ulimit -u $(ulimit -u) (vsftpd runs two per session)"

# Every feature by default, as CI builds it (issue 16: a feature that is off at run time
# must cost nothing per session); FEATURES="--features tokio" for the README's build.
FEATURES="${FEATURES:---all-features}"
echo "building (release, $FEATURES): our example server and client, and the bench-only crates"
nice cargo build --release --quiet $FEATURES --example server --example client
for crate in libunftp-server suppaftp-client load-driver; do
    (cd "benches/$crate" && nice cargo build --release --quiet)
done

exec python3 benches/perf_suite.py --size-mib "$SIZE_MIB" --runs "$RUNS" \
    --files "${FILES:-1000}" --file-kib "${FILE_KIB:-64}" --noops "${NOOPS:-500000}" \
    --sessions ${SESSIONS:-1000 10000} --concurrency "${CONCURRENCY:-32}" \
    --server target/release/examples/server --client target/release/examples/client \
    --libunftp benches/libunftp-server/target/release/libunftp-server \
    --suppaftp benches/suppaftp-client/target/release/suppaftp-client \
    --load-driver benches/load-driver/target/release/load-driver "$@"
