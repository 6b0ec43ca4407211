#!/bin/sh
# Container health: the node is ready to take traffic (Redis reachable, not draining).
exec curl -fsS "http://127.0.0.1:${IORELAY_LISTEN##*:}/readyz" >/dev/null
