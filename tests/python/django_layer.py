"""Sends on a Django Channels layer (channels_redis) as a Django project does, for the e2e tests.

Usage: python django_layer.py REDIS_URL[,URL...] core|pubsub [KEY,KEY...] < ops.json

The layer is configured through Django settings (CHANNEL_LAYERS) and taken
with channels.layers.get_channel_layer() after django.setup(), as in a Django
management command; KEY,... are its symmetric_encryption_keys ("" for none).

ops.json is a JSON list of operations, run in order:
  {"op": "group_send", "group": "orders", "message": {"type": "order.update", ...}}
      async_to_sync(channel_layer.group_send)(group, message), as Django code does.
  {"op": "mutated", "group": ..., "message": {...}, "mutation": NAME, "keys"?: [...]}
      what group_send would write for `message` (serialized by the real layer, with
      other keys if "keys" is given), then damaged by NAME, written where group_send
      writes: PUBLISH on the group channel (pubsub) or ZADD into each member's key (core).
      NAME: none, truncate, flip, garbage, plain (msgpack without encryption),
      huge (a 2 MB field), not_a_dict, no_type, ext, int_keys, foreign_channel.
  {"op": "await_members", "group": ..., "count": n}
      waits (10 s at most) until the core layer's group has exactly n members:
      iorelay nodes join and leave the groups of their sockets' rooms within a moment.
  {"op": "raw_set", "key": ..., "value": ...}   SET a key (of the first host) to a string
  {"op": "await_gone", "key": ...}   waits (10 s at most) until that key no longer exists
  {"op": "dump", "path": ..., "message": {...}, "channels"?: [...]}
      writes the layer's serialization of message (+ __asgi_channel__) to path.
"""

import json
import sys
import time

import django
import msgpack
from django.conf import settings


def layer_settings(hosts, kind, keys):
    config = {"hosts": hosts}
    if keys:
        config["symmetric_encryption_keys"] = keys
    backend = {
        "core": "channels_redis.core.RedisChannelLayer",
        "pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer",
    }[kind]
    return {"default": {"BACKEND": backend, "CONFIG": config}}


def mutate(name, serialize, message, kind):
    if name == "garbage":
        return bytes(range(256)) * 2
    if name == "huge":
        return serialize({**message, "blob": "x" * 2_000_000})
    if name == "not_a_dict":
        return serialize([1, 2, 3])
    if name == "no_type":
        return serialize({k: v for k, v in message.items() if k != "type"})
    if name == "ext":
        return serialize({**message, "odd": msgpack.ExtType(5, b"\x01")})
    if name == "int_keys":
        return serialize({**message, 1: 2})
    if name == "plain":
        # The core layer's 12 random bytes, then msgpack that was never encrypted.
        return (b"\x00" * 12 if kind == "core" else b"") + msgpack.packb(message)
    data = serialize(message)
    if name == "truncate":
        return data[: len(data) - 7]
    if name == "flip":
        # The first byte of the msgpack (the dict's header): no longer a dict.
        at = 12 if kind == "core" else 0
        return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]
    assert name in ("none", "foreign_channel"), name
    return data


def shard(hosts, name):
    """A client of the host channels_redis puts `name` on (its consistent hash)."""
    from channels_redis.utils import _consistent_hash
    import redis

    return redis.Redis.from_url(hosts[_consistent_hash(name, len(hosts))])


def main():
    hosts, kind = sys.argv[1].split(","), sys.argv[2]
    keys = [k for k in (sys.argv[3] if len(sys.argv) > 3 else "").split(",") if k]
    settings.configure(
        INSTALLED_APPS=["channels"],
        CHANNEL_LAYERS=layer_settings(hosts, kind, keys),
    )
    django.setup()

    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer
    from channels_redis.core import RedisChannelLayer
    from channels_redis.pubsub import RedisPubSubChannelLayer
    import redis

    layer = get_channel_layer()
    ops = json.load(sys.stdin)
    for op in ops:
        if op["op"] == "group_send":
            async_to_sync(layer.group_send)(op["group"], op["message"])
        elif op["op"] == "mutated":
            group, message, name = op["group"], op["message"], op["mutation"]
            other = layer
            if "keys" in op:
                cls = RedisChannelLayer if kind == "core" else RedisPubSubChannelLayer
                other = cls(hosts=hosts, symmetric_encryption_keys=op["keys"])
            # Written where the layer writes: on the host each name hashes to.
            if kind == "pubsub":
                channel = f"asgi__group__{group}"
                client = shard(hosts, channel)
                client.publish(channel, mutate(name, other.serialize, message, kind))
                continue
            members = shard(hosts, group).zrange(f"asgi:group:{group}", 0, -1)
            for channel in [c.decode() for c in members]:
                listed = ["someone.else!x"] if name == "foreign_channel" else [channel]
                full = {**message, "__asgi_channel__": listed}
                data = mutate(name, other.serialize, full, kind)
                local = layer.non_local_name(channel)
                client = shard(hosts, local)
                client.zadd("asgi" + local, {data: time.time()})
                client.expire("asgi" + local, 60)
        elif op["op"] == "await_members":
            client = shard(hosts, op["group"])
            deadline = time.monotonic() + 10
            while client.zcard(f"asgi:group:{op['group']}") != op["count"]:
                if time.monotonic() > deadline:
                    members = client.zrange(f"asgi:group:{op['group']}", 0, -1)
                    raise TimeoutError(f"{op['group']} has {members}, not {op['count']} members")
                time.sleep(0.02)
        elif op["op"] == "raw_set":
            redis.Redis.from_url(hosts[0]).set(op["key"], op["value"])
        elif op["op"] == "await_gone":
            client = redis.Redis.from_url(hosts[0])
            deadline = time.monotonic() + 10
            while client.exists(op["key"]):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{op['key']} is still there")
                time.sleep(0.02)
        elif op["op"] == "dump":
            message = dict(op["message"])
            if "channels" in op:
                message["__asgi_channel__"] = op["channels"]
            with open(op["path"], "wb") as out:
                out.write(layer.serialize(message))
        else:
            raise ValueError(op)
    print("ok")


if __name__ == "__main__":
    main()
