"""Class-based namespaces (``flask_socketio.Namespace``): ``on_<event>`` methods."""

from . import event_context


class Namespace:
    """Subclass and register with ``socketio.on_namespace(MyNamespace('/chat'))``.

    ``MyNamespace('*')`` handles every namespace that has no handler of its own; its
    methods get the event's arguments (``request.namespace`` tells the namespace) and
    its ``emit``, ``send``, ``rooms``, ... default to the namespace of the event.
    """

    def __init__(self, namespace=None):
        self.namespace = namespace or "/"
        self.socketio = None

    def _set_socketio(self, socketio):
        self.socketio = socketio

    def event_methods(self):
        """``(event, bound method)`` of every ``on_<event>`` method."""
        for name in dir(self):
            if name.startswith("on_") and callable(getattr(self, name)):
                yield name[3:], getattr(self, name)

    def _ns(self, namespace):
        if namespace:
            return namespace
        if self.namespace == "*":
            call = event_context.current_call()
            return call.namespace if call is not None else "/"
        return self.namespace

    def emit(self, event, data=None, room=None, include_self=True, namespace=None, callback=None):
        self.socketio.emit(event, data, to=room, include_self=include_self,
                           namespace=self._ns(namespace), callback=callback)

    def send(self, data, room=None, include_self=True, namespace=None, callback=None):
        self.socketio.send(data, to=room, include_self=include_self,
                           namespace=self._ns(namespace), callback=callback)

    def close_room(self, room, namespace=None):
        self.socketio.close_room(room, namespace=self._ns(namespace))

    def enter_room(self, sid, room, namespace=None):
        event_context.join_room(room, sid=sid, namespace=self._ns(namespace))

    def leave_room(self, sid, room, namespace=None):
        event_context.leave_room(room, sid=sid, namespace=self._ns(namespace))

    def rooms(self, sid, namespace=None):
        return event_context.rooms(sid, namespace=self._ns(namespace))

    def disconnect(self, sid, namespace=None):
        event_context.disconnect(sid, namespace=self._ns(namespace))
