#!/usr/bin/env python3
"""A recording TCP proxy for FTP control connections, for seeding the session fuzzers.

    capture_proxy.py LISTEN_PORT TARGET_PORT OUT_DIR

Listens on 127.0.0.1:LISTEN_PORT and forwards each connection to 127.0.0.1:TARGET_PORT.
Every chunk is appended, in the order it was seen, to OUT_DIR/conn-N.jsonl as
{"dir": "c2s" | "s2c", "hex": ...}. Data connections do not pass through it: passive
replies name the real server's port, which is on the same loopback address.
"""
import json
import os
import socket
import sys
import threading

listen_port, target_port, out_dir = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
os.makedirs(out_dir, exist_ok=True)
counter = 0
lock = threading.Lock()


def pump(source, sink, direction, log, log_lock):
    try:
        while True:
            chunk = source.recv(65536)
            if not chunk:
                break
            with log_lock:
                log.write(json.dumps({"dir": direction, "hex": chunk.hex()}) + "\n")
                log.flush()
            sink.sendall(chunk)
    except OSError:
        pass
    finally:
        for sock in (source, sink):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def serve(client):
    global counter
    with lock:
        counter += 1
        number = counter
    server = socket.create_connection(("127.0.0.1", target_port))
    log = open(os.path.join(out_dir, f"conn-{number}.jsonl"), "w")
    log_lock = threading.Lock()
    threads = [
        threading.Thread(target=pump, args=(client, server, "c2s", log, log_lock)),
        threading.Thread(target=pump, args=(server, client, "s2c", log, log_lock)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    log.close()


listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", listen_port))
listener.listen(16)
print("ready", flush=True)
while True:
    connection, _ = listener.accept()
    threading.Thread(target=serve, args=(connection,), daemon=True).start()
