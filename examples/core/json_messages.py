"""JSON-encoded messages: publish and receive typed values instead of bytes.

Go's EncodedConn (nats.NewEncodedConn(nc, nats.JSON_ENCODER)) hands handlers decoded
structs. nats-py moves bytes only, so this script wraps a connection in a small JsonConn
built on msgspec: typed decoding also validates, so a malformed message is rejected before
it reaches the handler instead of failing somewhere inside it. Field names are PascalCase,
which is what Go's encoding/json produces for the seed's untagged `person` struct, so Go
and Python services can exchange these messages.

    python examples/core/json_messages.py [--server nats://127.0.0.1:4222]
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import msgspec
from _common import check, connect, exit_code, main, wait_for_event
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

T = TypeVar("T")
TIMEOUT = 10.0


class Person(msgspec.Struct, rename="pascal"):
    name: str
    address: str
    age: int


class Greeting(msgspec.Struct, rename="pascal"):
    text: str


class JsonConn:
    """A thin EncodedConn: JSON-encodes what it sends and decodes what handlers receive."""

    def __init__(self, nc: Client) -> None:
        self.nc = nc
        self.rejected: list[str] = []  # why incoming messages could not be decoded

    async def publish(self, subject: str, value: Any) -> None:
        await self.nc.publish(subject, msgspec.json.encode(value))

    async def request(self, subject: str, value: Any, reply_type: type[T], timeout: float = TIMEOUT) -> T:
        reply = await self.nc.request(subject, msgspec.json.encode(value), timeout=timeout)
        return msgspec.json.decode(reply.data, type=reply_type)

    async def subscribe(
        self, subject: str, value_type: type[T], handler: Callable[[T], Awaitable[Any]]
    ) -> Subscription:
        """Call ``handler`` with each decoded value; a non-None result is the JSON reply."""
        decoder = msgspec.json.Decoder(value_type)

        async def on_msg(msg: Msg) -> None:
            try:
                value = decoder.decode(msg.data)
            except msgspec.DecodeError as e:  # ValidationError is a DecodeError
                self.rejected.append(str(e))
                print(f"rejected a message on {msg.subject!r}: {e}")
                return
            result = await handler(value)
            if result is not None and msg.reply:
                await msg.respond(msgspec.json.encode(result))

        return await self.nc.subscribe(subject, cb=on_msg)


async def run(url: str) -> int:
    people = [
        Person(name="derek", address="140 New Montgomery Street", age=22),
        Person(name="ivan", address="1 Market Street", age=35),
    ]
    received: list[Person] = []
    both_in = asyncio.Event()

    async def on_person(p: Person) -> None:
        print(f"received a person: {p!r}")
        received.append(p)
        if len(received) == len(people):
            both_in.set()

    async def greet(p: Person) -> Greeting:
        return Greeting(text=f"Hello {p.name}, {p.age} years old")

    sub_conn = JsonConn(await connect(url, "subscriber"))
    await sub_conn.subscribe("hello", Person, on_person)
    await sub_conn.subscribe("greet", Person, greet)
    await sub_conn.nc.flush()  # the subscriptions are registered once flush returns

    pub_conn = JsonConn(await connect(url, "publisher"))
    print(f"on the wire: {msgspec.json.encode(people[0]).decode()}")
    await pub_conn.publish("hello", people[0])
    # A producer with a bug: Age is a string. Sent between the two, and messages from one
    # connection arrive in order, so it has been dealt with once the second person is in.
    await pub_conn.nc.publish("hello", b'{"Name": "bob", "Address": "?", "Age": "twenty"}')
    await pub_conn.publish("hello", people[1])
    await wait_for_event(both_in, TIMEOUT, "the people")

    greeting = await pub_conn.request("greet", people[0], Greeting)
    print(f"request -> reply: {greeting!r}")
    await pub_conn.nc.close()
    await sub_conn.nc.drain()

    checks = [
        check(received == people, f"the subscriber got the {len(people)} people as typed Person values"),
        check(
            len(sub_conn.rejected) == 1 and "$.Age" in sub_conn.rejected[0],
            "the malformed message was rejected by validation and never reached the handler",
        ),
        check(
            greeting == Greeting(text="Hello derek, 22 years old"),
            "a JSON request got a typed JSON reply",
        ),
    ]
    return exit_code(checks)


if __name__ == "__main__":
    sys.exit(main(run, "JSON-encoded messages (like Go's EncodedConn) with nats-py."))
