"""Writes what real Flask-SocketIO / python-socketio publish, as decoder fixtures.

Usage: python make_fixtures.py OUT_DIR < fixture_ops.json

Runs queue_emit.py's operations with Redis PUBLISH captured instead of sent and
writes each message to OUT_DIR/<encoding>-<name>.bin (encoding: json from
tests/.venv, pickle from tests/.venv-pickle). The Rust unit tests beside the
decoder read these files, so they check the bytes Python really writes.
"""

import io
import json
import os
import sys

import redis

import queue_emit


def main():
    out = sys.argv[1]
    ops = json.load(sys.stdin)
    captured = []
    redis.Redis.publish = lambda self, channel, data: captured.append(data)
    sys.argv = ["queue_emit.py", "redis://127.0.0.1:1/0", "flask-socketio"]
    sys.stdin = io.StringIO(json.dumps(ops))
    queue_emit.main()
    assert len(captured) == len(ops), (len(captured), len(ops))
    for op, data in zip(ops, captured):
        if isinstance(data, str):
            data = data.encode()
        encoding = "pickle" if data[:1] == b"\x80" else "json"
        with open(os.path.join(out, f"{encoding}-{op['name']}.bin"), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
