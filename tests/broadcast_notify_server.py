"""A minimal ``org.freedesktop.Notifications`` server that *broadcasts* its signals, as GNOME Shell's
``notificationDaemon.js`` does (``emit_signal`` without a destination; dunst sends them to the client only).
For the notifier tests: run as ``python tests/broadcast_notify_server.py BUS_ADDRESS``; it answers
``GetCapabilities`` (``actions``, ``body``) and ``Notify`` (ids from 1, like a daemon just started) and, when
told ``Notify(summary="click N")`` by anyone, broadcasts ``ActionInvoked(N, "default")`` as if a person had
clicked notification N. It prints ``ready`` once it owns the name."""

from __future__ import annotations

import asyncio
import itertools
import sys

from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus

NAME = "org.freedesktop.Notifications"
PATH = "/org/freedesktop/Notifications"


async def main(address: str) -> None:
    bus = await MessageBus(bus_address=address).connect()
    ids = itertools.count(1)

    def handle(msg: Message) -> bool:
        if msg.message_type != MessageType.METHOD_CALL or msg.interface != NAME:
            return False
        if msg.member == "GetCapabilities":
            bus.send(Message.new_method_return(msg, "as", [["actions", "body"]]))
        elif msg.member == "Notify":
            bus.send(Message.new_method_return(msg, "u", [next(ids)]))
            summary = str(msg.body[3])
            if summary.startswith("click "):
                bus.send(Message.new_signal(PATH, NAME, "ActionInvoked", "us", [int(summary[6:]), "default"]))
        else:
            return False
        return True

    bus.add_message_handler(handle)
    await bus.request_name(NAME)
    print("ready", flush=True)
    await bus.wait_for_disconnect()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
