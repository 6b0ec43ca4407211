"""A real python-socketio client chatting on iorelay's /chat, for the e2e tests.

Usage: python chat_client.py URL NAME ROOM TEXT

Connects to /chat with auth {name}, joins ROOM, sends TEXT, waits for its own
message to come back as the room's `message` event, and prints one JSON line:
{"join": <join ack>, "message": <message ack>, "received": <message event>}.
"""

import json
import sys
import threading

import socketio


def main():
    url, name, room, text = sys.argv[1:5]
    sio = socketio.Client(reconnection=False)
    received = threading.Event()
    got = {}

    @sio.on("message", namespace="/chat")
    def on_message(message):
        if message.get("text") == text:
            got["received"] = message
            received.set()

    sio.connect(url, namespaces=["/chat"], auth={"name": name}, wait_timeout=10)
    got["join"] = sio.call("join", {"room": room}, namespace="/chat", timeout=10)
    got["message"] = sio.call("message", {"room": room, "text": text}, namespace="/chat",
                              timeout=10)
    if not received.wait(10):
        raise SystemExit("own message never came back")
    print(json.dumps(got), flush=True)
    sio.disconnect()


if __name__ == "__main__":
    main()
