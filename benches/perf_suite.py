#!/usr/bin/env python3
"""Our server and client side by side with the peers, all in one run (issue 10).

Started by benches/perf_suite.sh, which builds the programs and raises the open-file
limit; run that, not this. Standard library only.

Starts our example server, vsftpd, pyftpdlib and libunftp on free loopback ports, all
serving one prepared directory (each with its own upload directory), runs every
workload against every server in the same run (servers interleaved, their order
rotated from run to run), and prints the medians with our ratio against the best peer.
"""

import argparse
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict

HOST = "127.0.0.1"
USER, PASSWORD = "bench", "bench"
TIMEOUT = 120  # seconds a control or data connection may stay silent: a hung server fails



# ---------------------------------------------------------------------------- helpers


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_for_port(port, process, name, timeout=30.0):
    """Polls until something accepts on the port; fails if the process died first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode} before listening")
        try:
            socket.create_connection((HOST, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"{name}: nothing listening on port {port} after {timeout} s")


def process_tree(root):
    """The pid and every descendant of it."""
    children = defaultdict(list)
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                parent = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children[parent].append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, ()))
    return tree


def pss_kib(pids):
    """Sum of proportional set sizes (shared pages split among their users), KiB."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            pass  # exited meanwhile
    return total


def settled_memory(root):
    """Pss of the server's process tree once it stops changing (vsftpd's pre-login
    processes exit shortly after the login reply)."""
    previous = None
    for _ in range(100):
        tree = process_tree(root)
        now = (len(tree), pss_kib(tree))
        if previous and now[0] == previous[0] and abs(now[1] - previous[1]) <= 0.005 * now[1]:
            return now
        previous = now
        time.sleep(0.05)
    return previous


def timed(argv):
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def cargo_lock_version(path, package):
    try:
        with open(path) as f:
            lines = f.read().splitlines()
        return lines[lines.index(f'name = "{package}"') + 1].split('"')[1]
    except (OSError, ValueError, IndexError):
        return "?"


def versions():
    def run(argv, **kwargs):
        try:
            return subprocess.run(argv, capture_output=True, text=True, **kwargs).stdout.strip()
        except OSError:
            return "?"
    here = os.path.dirname(os.path.abspath(__file__))
    # vsftpd prints its version on its standard input.
    vsftpd = run(["sh", "-c", "vsftpd -v 0>&1"]).split("version")[-1].strip()
    pyftpdlib = run([sys.executable, "-c", "import pyftpdlib; print(pyftpdlib.__ver__)"])
    curl = run(["curl", "--version"]).split()[1]
    libunftp = cargo_lock_version(os.path.join(here, "libunftp-server", "Cargo.lock"), "libunftp")
    suppaftp = cargo_lock_version(os.path.join(here, "suppaftp-client", "Cargo.lock"), "suppaftp")
    return (f"vsftpd {vsftpd}, pyftpdlib {pyftpdlib}, libunftp {libunftp}, curl {curl}, "
            f"suppaftp {suppaftp}, Python {sys.version.split()[0]}")


class Control:
    """A blocking FTP control connection: enough to log in and move files."""

    def __init__(self, port):
        self.sock = socket.create_connection((HOST, port), timeout=TIMEOUT)
        self.buffer = b""
        self.expect(220)

    def line(self):
        while b"\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the control connection")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line

    def reply(self):
        first = self.line()
        if first[3:4] == b"-":
            while not (self.line()[:4] == first[:3] + b" "):
                pass
        return int(first[:3])

    def expect(self, *codes):
        code = self.reply()
        if code not in codes:
            raise RuntimeError(f"expected {codes}, got {code}")
        return code

    def login(self, user, password):
        self.sock.sendall(f"USER {user}\r\n".encode())
        if self.expect(230, 331) == 331:
            self.sock.sendall(f"PASS {password}\r\n".encode())
            self.expect(230)


# ---------------------------------------------------------------------------- servers


class Server:
    """One server under test: how to start it, who logs in, where uploads go."""

    def __init__(self, name, user, password):
        self.name, self.user, self.password = name, user, password
        self.process = None
        self.port = None
        self.sessions_mode = False  # started for a session row

    @property
    def credentials(self):
        return f"{self.user}:{self.password}"

    @property
    def url(self):
        return f"ftp://{HOST}:{self.port}"

    def start(self, suite):
        self.port = free_port()
        log = open(os.path.join(suite.work, f"{self.name}.log"), "ab")
        self.process = subprocess.Popen(self.argv(suite), stdout=log, stderr=log)
        log.close()
        wait_for_port(self.port, self.process, self.name)

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


class Ours(Server):
    def argv(self, suite):
        limit = str(suite.max_sessions + 64)
        return [suite.args.server, "--root", suite.root, "--listen", f"{HOST}:{self.port}",
                "--user", f"{USER}:{PASSWORD}", "--pasv-ports", suite.pasv_range(0),
                "--max-sessions", limit, "--max-per-ip", limit, "--idle-timeout", "3600"]


class Vsftpd(Server):
    def argv(self, suite):
        low, high = suite.pasv_range(1).split("-")
        config = os.path.join(suite.work, "vsftpd.conf")
        with open(config, "w") as f:
            f.write(f"""listen=YES
listen_ipv6=NO
listen_address={HOST}
listen_port={self.port}
background=NO
anonymous_enable=YES
anon_root={suite.root}
no_anon_password=NO
write_enable=YES
anon_upload_enable=YES
anon_other_write_enable=YES
local_enable=NO
seccomp_sandbox=NO
secure_chroot_dir={suite.empty}
pasv_min_port={low}
pasv_max_port={high}
max_clients={suite.max_sessions + 64}
max_per_ip={suite.max_sessions + 64}
idle_session_timeout=3600
xferlog_enable=NO
""")
        return ["vsftpd", config]


class Pyftpdlib(Server):
    def argv(self, suite):
        limit = str(suite.max_sessions + 64)
        return [sys.executable, "-m", "pyftpdlib", "-i", HOST, "-p", str(self.port), "-w",
                "-u", USER, "-P", PASSWORD, "-d", suite.root, "-r", suite.pasv_range(2),
                "--max-cons", limit, "--max-cons-per-ip", limit, "--timeout", "3600"]


class Libunftp(Server):
    """libunftp's own listener leaves Nagle's algorithm on for the control connection: a
    reply written while the previous one waits for a delayed ACK waits 40 ms, once per
    file in the small-files rows. For the transfer rows it runs with TCP_NODELAY (its
    accept loop of our own, one libunftp Server per connection: 40 ms less per
    file); for the session rows with its own listener (leaner and faster to log in)."""

    def argv(self, suite):
        return [suite.args.libunftp, "--listen", f"{HOST}:{self.port}", "--root", suite.root,
                "--pasv-ports", suite.pasv_range(3),
                "--nodelay", "no" if self.sessions_mode else "yes"]


# ---------------------------------------------------------------------------- workloads


def curl(suite, server, *args):
    """Wall time of one curl transfer. The big file sits in a directory because curl
    7.88, on a fresh connection to a file in the login directory, sometimes stalls for
    200 ms before connecting the data connection when the server answers EPSV at once;
    a CWD first avoids it. A stall is still looked for (curl's time_pretransfer)."""
    start = time.perf_counter()
    out = subprocess.run(["curl", "-sS", "--fail", "--max-time", str(TIMEOUT), "--user",
                          server.credentials, "-o", "/dev/null", "-w", "%{time_pretransfer}",
                          *args],
                         check=True, capture_output=True, text=True).stdout
    seconds = time.perf_counter() - start
    if float(out) > 0.1:
        suite.notes.append(f"{server.name}: curl took {float(out):.3f} s to start a transfer")
    return seconds


def retr(suite, server, run):
    return curl(suite, server, f"{server.url}/data/big.bin")


def stor(suite, server, run):
    target = suite.upload_dir(server, f"stor{run}")
    seconds = curl(suite, server, "-T", suite.big,
                   f"{server.url}/up/{server.name}/stor{run}/big.bin")
    shutil.rmtree(target)
    return seconds


def epsv_connect(control):
    """EPSV, then connect the data connection (as ftplib does, before the command)."""
    control.sock.sendall(b"EPSV\r\n")
    line = control.line()
    if not line.startswith(b"229"):
        raise RuntimeError(f"EPSV: {line!r}")
    port = int(line.split(b"|")[3])
    return socket.create_connection((HOST, port), timeout=TIMEOUT)


def files_session(suite, server, upload_to=None):
    """One session moves every small file, EPSV and RETR (or STOR into `upload_to`) for
    each; milliseconds per file. curl is not used here: with a reused connection, curl
    7.88 sometimes stalls for a whole second before connecting to a server that answers
    EPSV at once."""
    control = Control(server.port)
    control.login(server.user, server.password)
    control.sock.sendall(b"TYPE I\r\n")
    control.expect(200)
    sink = bytearray(1 << 20)
    names = suite.file_names
    cpu, start = time.process_time(), time.perf_counter()
    for name in names:
        data = epsv_connect(control)
        if upload_to is None:
            control.sock.sendall(f"RETR files/{name}\r\n".encode())
            control.expect(125, 150)
            while data.recv_into(sink):
                pass
        else:
            control.sock.sendall(f"STOR {upload_to}/{name}\r\n".encode())
            control.expect(125, 150)
            data.sendall(suite.file_content[name])
        data.close()
        control.expect(226, 250)
    elapsed = time.perf_counter() - start
    suite.note_driver("small files " + ("get" if upload_to is None else "put"),
                      (time.process_time() - cpu) / elapsed)
    control.sock.close()
    return elapsed / len(names) * 1000


def files_get(suite, server, run):
    return files_session(suite, server)


def files_put(suite, server, run):
    target = suite.upload_dir(server, f"files{run}")
    milliseconds = files_session(suite, server, f"up/{server.name}/files{run}")
    uploaded = os.listdir(target)
    if len(uploaded) != suite.args.files or any(
            os.path.getsize(os.path.join(target, name)) != suite.args.file_kib * 1024
            for name in uploaded):
        raise RuntimeError(f"{server.name}: the uploaded files are not all there")
    shutil.rmtree(target)
    return milliseconds


def noops(suite, server, run):
    """Pipelined NOOPs on one logged-in connection, from the Rust load driver: commands
    per second."""
    out = subprocess.run([suite.args.load_driver, "noops", f"{HOST}:{server.port}", server.user,
                          server.password, str(suite.args.noops)],
                         check=True, capture_output=True, text=True).stdout
    fields = dict(field.split("=", 1) for field in out.split())
    suite.note_driver("pipelined NOOPs", float(fields["cpu_share"]))
    return float(fields["per_second"])


def sessions_workload(count):
    def run_sessions(suite, server, run):
        """A fresh server process; Pss of its process tree idle, then with `count`
        logged-in idle sessions (held by the Rust load driver). Returns (KiB per session,
        logins per second), or Failed with the number of sessions it held."""
        server.stop()
        server.sessions_mode = True
        server.start(suite)
        try:
            processes, idle = settled_memory(server.process.pid)
            driver = subprocess.Popen(
                [suite.args.load_driver, "sessions", f"{HOST}:{server.port}", server.user,
                 server.password, str(count), str(suite.args.concurrency)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            line = driver.stdout.readline()
            try:
                if not line:
                    raise RuntimeError(f"load driver failed on {server.name}")
                head, error = line.rstrip("\n").split(" first_error=", 1)
                fields = dict(field.split("=", 1) for field in head.split())
                held, loaded = settled_memory(server.process.pid)
            finally:
                driver.stdin.close()  # the driver closes its sessions and exits
                driver.wait()
            # vsftpd's session processes end when their connections close: let them go
            # before the next server is measured.
            deadline = time.monotonic() + 60
            while len(process_tree(server.process.pid)) > processes and time.monotonic() < deadline:
                time.sleep(0.05)
            suite.note_driver(f"{count} sessions", float(fields["cpu_share"]))
            if int(fields["failed"]):
                suite.notes.append(f"{server.name}, {count} sessions: {fields['failed']} logins "
                                   f"failed, the first with: {error}")
                return Failed(f"held {int(fields['logged_in']):,} of {count:,}")
            suite.processes[count][server.name] = f"{processes} → {held}"
            return ((loaded - idle) / count, count / float(fields["seconds"]))
        finally:
            server.stop()
            server.sessions_mode = False
            server.start(suite)  # the other workloads find it running again
    return run_sessions


class Failed:
    """A figure that could not be taken: what the cell shows instead."""

    def __init__(self, text):
        self.text = text


# ---------------------------------------------------------------------------- suite


class Suite:
    def __init__(self, args):
        self.args = args
        self.work = tempfile.mkdtemp(prefix="ftp-proto-perf.", dir=args.work_dir)
        self.root = os.path.join(self.work, "root")
        self.empty = os.path.join(self.work, "empty")
        self.big = os.path.join(self.root, "data", "big.bin")
        self.max_sessions = max(args.sessions, default=0)
        self.file_names = [f"f{i:04}.bin" for i in range(1, args.files + 1)]
        self.file_content = {}
        self.notes, self.driver = [], defaultdict(float)
        self.processes = defaultdict(dict)  # session row -> server -> "idle → held"

    def pasv_range(self, index):
        low = self.args.pasv_base + 1000 * index
        return f"{low}-{low + 999}"

    def upload_dir(self, server, name):
        path = os.path.join(self.root, "up", server.name, name)
        os.makedirs(path)
        os.chmod(path, 0o777)  # vsftpd writes as the ftp user
        return path

    def note_driver(self, workload, share):
        self.driver[workload] = max(self.driver[workload], share)

    def prepare(self, servers):
        os.makedirs(os.path.join(self.root, "files"))
        os.makedirs(os.path.join(self.root, "data"))
        os.makedirs(self.empty)
        with open(self.big, "wb") as f:
            block = os.urandom(1 << 20)
            for _ in range(self.args.size_mib):
                f.write(block)
        for name in self.file_names:
            content = os.urandom(self.args.file_kib * 1024)
            with open(os.path.join(self.root, "files", name), "wb") as f:
                f.write(content)
            self.file_content[name] = content
        for server in servers:
            os.makedirs(os.path.join(self.root, "up", server.name))
            os.chmod(os.path.join(self.root, "up", server.name), 0o777)
        # vsftpd refuses a root its anonymous user can write to.
        for path in (self.work, self.root, os.path.join(self.root, "files"),
                     os.path.dirname(self.big), self.empty):
            os.chmod(path, 0o755)

    def close(self):
        shutil.rmtree(self.work, ignore_errors=True)


def measure(suite, servers, workloads):
    """results[workload][server] = list of figures, servers interleaved run by run."""
    results = defaultdict(lambda: defaultdict(list))
    for name, function in workloads:
        for run in range(suite.args.runs):
            shift = run % len(servers)
            for server in servers[shift:] + servers[:shift]:
                print(f"  {name}: run {run + 1}/{suite.args.runs}, {server.name}",
                      file=sys.stderr, flush=True)
                if server.process.poll() is not None:
                    suite.notes.append(f"{server.name} had exited ({server.process.returncode}) "
                                       f"before {name}, run {run + 1}: restarted")
                    server.start(suite)
                try:
                    figure = function(suite, server, run)
                except Exception as error:  # noqa: BLE001: one failed figure, not the run
                    suite.notes.append(f"{server.name}, {name}, run {run + 1}: {error!r}")
                    figure = Failed("error")
                results[name][server.name].append(figure)
    return results


def client_row(suite, vsftpd):
    """Our example client, curl and suppaftp downloading the big file from vsftpd."""
    url = f"{vsftpd.url}/data/big.bin"
    clients = [
        ("ours", [suite.args.client, "get", url, "-o", "/dev/null"]),
        ("curl", ["curl", "-sS", "--fail", "-o", "/dev/null", url]),
        ("suppaftp", [suite.args.suppaftp, f"{HOST}:{vsftpd.port}", "data/big.bin"]),
    ]
    times = defaultdict(list)
    for _, argv in clients:
        timed(argv)  # warm-up
    for run in range(suite.args.runs):
        shift = run % len(clients)
        for name, argv in clients[shift:] + clients[:shift]:
            print(f"  client: run {run + 1}/{suite.args.runs}, {name}", file=sys.stderr, flush=True)
            times[name].append(timed(argv))
    return {name: statistics.median(values) for name, values in times.items()}


# ---------------------------------------------------------------------------- report

# kind: "lower" (time, memory) or "higher" (rates); target ratio ours / best peer.
def row(label, figures, unit, kind, target, digits):
    ours = figures["ours"]
    peers = {k: v for k, v in figures.items() if k != "ours"}
    usable = {k: v for k, v in peers.items() if not isinstance(v, Failed)}
    cells = []
    for value in figures.values():
        if isinstance(value, Failed):
            cells.append(value.text)
        else:
            cells.append(f"{value:,.{digits}f} {unit}")
    if isinstance(ours, Failed) or not usable:
        return cells, "—", "—", "not met" if isinstance(ours, Failed) else "no peer"
    if min(ours, *usable.values()) <= 0:  # a memory delta lost in noise (too few sessions)
        return cells, "—", "—", "unclear"
    pick = min if kind == "lower" else max
    best = pick(usable, key=usable.get)
    ratio = ours / usable[best]
    if kind == "lower":
        met, goal = ratio <= target, f"≤ {target:.2f}"
    else:
        met, goal = (ratio > target if target == 1 else ratio >= target), \
            (f"> {target:.2f}" if target == 1 else f"≥ {target:.2f}")
    return cells, f"{ratio:.2f} ({best})", goal, "**met**" if met else "not met"


def median_of(values):
    failed = [v for v in values if isinstance(v, Failed)]
    if failed:
        return failed[0]
    return statistics.median(values)


def report(suite, servers, results, clients):
    args = suite.args
    names = [s.name for s in servers]
    print(f"\nmedian of {args.runs} runs, loopback, servers interleaved; clients: curl for "
          "RETR and STOR, a Python driver for the small files, benches/load-driver for NOOPs "
          "and sessions")
    print("| workload | " + " | ".join(names) + " | ours ÷ best peer | target | |")
    print("|---" * (len(names) + 4) + "|")
    met = total = 0

    def emit(label, figures, unit, kind, target, digits):
        nonlocal met, total
        if figures is None:  # not run (--only)
            return
        cells, ratio, goal, verdict = row(label, figures, unit, kind, target, digits)
        print(f"| {label} | " + " | ".join(cells) + f" | {ratio} | {goal} | {verdict} |")
        total += 1
        met += verdict == "**met**"

    def medians(name, pick=None):
        if not results.get(name):
            return None
        out = {}
        for server in names:
            value = median_of(results[name][server]) if pick is None else \
                median_of([v if isinstance(v, Failed) else v[pick] for v in results[name][server]])
            out[server] = value
        return out

    files = f"{args.files:,} files of {args.file_kib} KiB, one session"
    emit(f"RETR {args.size_mib} MiB (wall)", medians("retr"), "s", "lower", 1, 3)
    emit(f"STOR {args.size_mib} MiB (wall)", medians("stor"), "s", "lower", 1, 3)
    emit(f"{files}: get (per file)", medians("files_get"), "ms", "lower", 1, 3)
    emit(f"{files}: put (per file)", medians("files_put"), "ms", "lower", 1, 3)
    emit(f"pipelined NOOPs, one connection ({args.noops:,})", medians("noops"), "/s",
         "higher", 2, 0)
    for count in args.sessions:
        emit(f"{count:,} idle sessions: resident memory per session (Pss)",
             medians(f"sessions{count}", 0), "KiB", "lower", 0.5, 1)
        emit(f"{count:,} sessions: logins per second", medians(f"sessions{count}", 1), "/s",
             "higher", 1, 0)
    if clients:
        print(f"\n| client, RETR {args.size_mib} MiB from vsftpd (wall) | ours | curl | suppaftp "
              "| ours ÷ faster | target | |")
        print("|---" * 7 + "|")
        faster = min(("curl", "suppaftp"), key=clients.get)
        ratio = clients["ours"] / clients[faster]
        total += 1
        met += ratio <= 1
        print(f"| median of {args.runs} | {clients['ours']:.3f} s | {clients['curl']:.3f} s | "
              f"{clients['suppaftp']:.3f} s | {ratio:.2f} ({faster}) | ≤ 1.00 | "
              f"{'**met**' if ratio <= 1 else 'not met'} |")
    print(f"\ntargets met: {met} of {total}")
    if suite.driver:
        shares = ", ".join(f"{k} {v:.0%}" for k, v in suite.driver.items())
        print(f"driver CPU (highest share of its wall time, per workload): {shares}")
    for count, servers in suite.processes.items():
        print(f"server processes, idle → with {count:,} sessions (last run): "
              + ", ".join(f"{name} {counts}" for name, counts in servers.items()))
    for note in suite.notes:
        print(f"note: {note}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    # On tmpfs the rows measure the servers rather than the disk: on ext4 here, creating
    # and removing thousands of files made every server's small-file puts alike
    # (1.0-1.4 ms per file, ours and pyftpdlib within 5% of each other, run to run).
    parser.add_argument("--work-dir", default="/dev/shm" if os.access("/dev/shm", os.W_OK)
                        else None, help="where the served tree lives (default: /dev/shm, "
                        "a tmpfs, when writable; else the system's temporary directory)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--file-kib", type=int, default=64)
    parser.add_argument("--noops", type=int, default=500_000)
    parser.add_argument("--sessions", type=int, nargs="*", default=[1000, 10000])
    parser.add_argument("--concurrency", type=int, default=32,
                        help="logins in flight at once (vsftpd's listen backlog is 32)")
    parser.add_argument("--pasv-base", type=int, default=61000,
                        help="passive ports: 1000 per server from here (default above the "
                             "ephemeral range)")
    parser.add_argument("--only", nargs="*", help="run only these workloads: retr stor "
                        "files_get files_put noops sessionsN client")
    parser.add_argument("--server", required=True, help="our example server binary")
    parser.add_argument("--client", required=True, help="our example client binary")
    parser.add_argument("--libunftp", required=True)
    parser.add_argument("--suppaftp", required=True)
    parser.add_argument("--load-driver", required=True)
    args = parser.parse_args()

    servers = [Ours("ours", USER, PASSWORD), Vsftpd("vsftpd", "anonymous", "bench@"),
               Pyftpdlib("pyftpdlib", USER, PASSWORD), Libunftp("libunftp", USER, PASSWORD)]
    workloads = [("retr", retr), ("stor", stor), ("files_get", files_get),
                 ("files_put", files_put), ("noops", noops)]
    workloads += [(f"sessions{n}", sessions_workload(n)) for n in args.sessions]
    if args.only:
        workloads = [w for w in workloads if w[0] in args.only]
    # A SIGTERM ends the run through the `finally` below, which stops the servers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    suite = Suite(args)
    started = time.monotonic()
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at the start; "
          f"{versions()}")
    descriptors = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if descriptors < suite.max_sessions + 256:
        print(f"warning: {descriptors} open files at most: too few for {suite.max_sessions} "
              "sessions in one process")
    try:
        print(f"preparing {args.size_mib} MiB and {args.files} x {args.file_kib} KiB in "
              f"{suite.work}", file=sys.stderr, flush=True)
        suite.prepare(servers)
        for server in servers:
            server.start(suite)
        for server in servers:  # one untimed download each warms the page cache
            retr(suite, server, -1)
        results = measure(suite, servers, workloads)
        clients = None if args.only and "client" not in args.only else client_row(suite, servers[1])
        report(suite, servers, results, clients)
        print(f"whole run: {time.monotonic() - started:.0f} s, load average "
              f"{os.getloadavg()[0]:.2f} at the end")
    finally:
        for server in servers:
            server.stop()
        suite.close()


if __name__ == "__main__":
    main()
