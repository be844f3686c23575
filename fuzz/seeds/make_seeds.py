#!/usr/bin/env python3
"""Turns captured control connections (capture_proxy.py's conn-N.jsonl files) into seed
inputs for the `server_session` and `client_session` fuzz targets.

    make_seeds.py CAPTURE_DIR... --server OUT_DIR --client OUT_DIR

The harnesses (src/server/fuzz.rs, src/client/fuzz.rs) read a flags byte, then
(opcode, argument) pairs. A server seed replays the client's bytes (opcode 0) and, after
each chunk, answers the session's storage requests (opcode 4) and plays a data
connection through (opcode 5: listening, connected, progress, finished). A client seed
starts the operation each captured command stands for (opcode 4) and replays the
server's bytes (opcode 0), with a data connection played through after each 150/125.
"""
import json
import os
import sys


def chunks_of(data, size=255):
    for start in range(0, len(data), size):
        yield data[start:start + size]


def control_input(data):
    out = bytearray()
    for piece in chunks_of(data):
        out += bytes([0, len(piece)]) + piece
    return out


# Server harness: opcode 4 with argument 2 answers a held request (a writable login, a
# directory's metadata...); opcode 5 with 0/2/4/12 is Listening, Connected, Progress and
# Finished for the last transfer.
SERVER_FOLLOW_UP = bytes([4, 2, 4, 2, 4, 2, 5, 0, 5, 2, 5, 4, 5, 12, 4, 2, 4, 2])

# Client harness: opcode 4's argument picks the operation (argument % 13) and the length
# of its path (argument % 16); these take the path's bytes from the following input.
CLIENT_OPERATIONS = {
    b"USER": 0, b"FEAT": 1, b"RETR": 2, b"STOR": 3, b"LIST": 4, b"NLST": 4,
    b"MLSD": 5, b"NOOP": 7, b"CWD": 8, b"RNFR": 9, b"SIZE": 10, b"PWD": 11, b"QUIT": 12,
}
# Data connected, three bytes of data, end of data.
CLIENT_DATA = bytes([5, 0, 5, 3]) + b"a\r\n" + bytes([5, 4])


def server_seed(records):
    seed = bytearray([0])
    for record in records:
        if record["dir"] == "c2s":
            seed += control_input(bytes.fromhex(record["hex"])) + SERVER_FOLLOW_UP
    return bytes(seed)


def client_seed(records):
    seed = bytearray([0])
    for record in records:
        data = bytes.fromhex(record["hex"])
        if record["dir"] == "c2s":
            for line in data.split(b"\r\n"):
                verb = line.split(b" ", 1)[0].upper()
                operation = CLIENT_OPERATIONS.get(verb)
                if operation is not None:
                    seed += bytes([4, operation]) + b"/abcdefghijkl"[:operation]
        else:
            seed += control_input(data)
            if data.startswith(b"150") or data.startswith(b"125"):
                seed += CLIENT_DATA
    return bytes(seed)


def main():
    args = sys.argv[1:]
    server_out = args[args.index("--server") + 1]
    client_out = args[args.index("--client") + 1]
    captures = [arg for arg in args if not arg.startswith("--")]
    captures = [c for c in captures if c not in (server_out, client_out)]
    os.makedirs(server_out, exist_ok=True)
    os.makedirs(client_out, exist_ok=True)
    written = 0
    for directory in captures:
        label = os.path.basename(os.path.normpath(directory))
        for name in sorted(os.listdir(directory)):
            if not name.endswith(".jsonl"):
                continue
            with open(os.path.join(directory, name)) as handle:
                records = [json.loads(line) for line in handle if line.strip()]
            if not any(r["dir"] == "c2s" for r in records):
                continue
            stem = f"{label}-{name[:-6]}"
            with open(os.path.join(server_out, stem), "wb") as out:
                out.write(server_seed(records))
            with open(os.path.join(client_out, stem), "wb") as out:
                out.write(client_seed(records))
            written += 1
    print(f"{written} connections turned into seeds")


main()
