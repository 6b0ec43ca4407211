"""Prints the iorelay command line an app needs, for deployments without ``socketio.run``.

Usage: python -m iorelay_flask MODULE:SOCKETIO --hook-url URL

``MODULE:SOCKETIO`` names the app's ``SocketIO`` object (``board:socketio``);
``URL`` is where iorelay reaches the app (``http://10.0.0.5:5000``).
"""

import argparse
import importlib
import shlex
import sys


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m iorelay_flask", description=__doc__.splitlines()[0])
    parser.add_argument("target", help="MODULE:ATTRIBUTE of the app's SocketIO object")
    parser.add_argument("--hook-url", required=True, help="where iorelay reaches the Flask app")
    args = parser.parse_args(argv)
    module_name, _, attribute = args.target.partition(":")
    sys.path.insert(0, ".")
    socketio = getattr(importlib.import_module(module_name), attribute or "socketio")
    print("iorelay " + " ".join(shlex.quote(a) for a in socketio.iorelay_args(args.hook_url)))


if __name__ == "__main__":
    main()
