"""The supervisor's line to each worker: JSON messages over a Unix stream socket pair.

A frame is a 4-byte big-endian length and a JSON object. A message with ``id`` asks for a reply,
which carries ``re`` (the same number); any other message is a notice. Either end may ask.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import socket
import struct
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger("pycoredns")

Message = dict[str, Any]
Handler = Callable[[Message], Awaitable[Any] | Any]
_LEN = struct.Struct(">I")
MAX_FRAME = 64 << 20


class ChannelClosed(ConnectionError):
    """The other end has gone (a worker died, or the supervisor did)."""


class Channel:
    """One end. ``handler(msg)`` gets every message that is not a reply; for one with an ``id``,
    its return value (or awaited result) is sent back as ``{"re": id, "value": ...}``."""

    def __init__(self, sock: socket.socket, handler: Handler, name: str = "") -> None:
        self.sock = sock
        self.handler = handler
        self.name = name
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.closed = asyncio.Event()

    async def start(self) -> None:
        reader, writer = await asyncio.open_unix_connection(sock=self.sock, limit=MAX_FRAME)
        self._writer = writer
        self._reader_task = asyncio.create_task(self._read(reader), name=f"control {self.name}")

    def send(self, msg: Message) -> None:
        w = self._writer
        if w is None or self.closed.is_set() or w.is_closing():
            raise ChannelClosed(f"control channel {self.name} is closed")
        data = json.dumps(msg, separators=(",", ":")).encode()
        w.write(_LEN.pack(len(data)) + data)

    def notify(self, msg: Message) -> bool:
        """Send a notice; False when the other end has gone."""
        try:
            self.send(msg)
        except ChannelClosed:
            return False
        return True

    async def request(self, msg: Message, timeout: float) -> Any:
        """Send ``msg`` and wait for the other end's reply value (TimeoutError, ChannelClosed)."""
        rid = next(self._ids)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[rid] = fut
        try:
            self.send({**msg, "id": rid})
            async with asyncio.timeout(timeout):
                return await fut
        finally:
            self._waiting.pop(rid, None)

    async def _read(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                head = await reader.readexactly(4)
                (size,) = _LEN.unpack(head)
                if size > MAX_FRAME:
                    raise ValueError(f"control frame of {size} bytes")
                msg = json.loads(await reader.readexactly(size))
                if "re" in msg:
                    fut = self._waiting.get(msg["re"])
                    if fut is not None and not fut.done():
                        fut.set_result(msg.get("value"))
                    continue
                self._dispatch(msg)
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        except Exception as e:  # a bad frame ends the line; the supervisor restarts what needs it
            log.error("[ERROR] control channel %s: %s", self.name, e)
        finally:
            self._close()

    def _dispatch(self, msg: Message) -> None:
        try:
            got = self.handler(msg)
        except Exception as e:
            log.error("[ERROR] control message %s failed: %s", msg.get("op"), e)
            got = None
        if asyncio.iscoroutine(got) or isinstance(got, asyncio.Future):
            task = asyncio.ensure_future(got)
            self._tasks.add(task)
            task.add_done_callback(lambda t: self._finished(t, msg))
        elif "id" in msg:
            self.notify({"re": msg["id"], "value": got})

    def _finished(self, task: asyncio.Future[Any], msg: Message) -> None:
        self._tasks.discard(task)
        value = None
        if not task.cancelled():
            if task.exception() is not None:
                log.error("[ERROR] control message %s failed: %s", msg.get("op"), task.exception())
            else:
                value = task.result()
        if "id" in msg:
            self.notify({"re": msg["id"], "value": value})

    def _close(self) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        for fut in self._waiting.values():
            if not fut.done():
                fut.set_exception(ChannelClosed(f"control channel {self.name} closed"))
        if self._writer is not None:
            self._writer.close()

    async def close(self) -> None:
        self._close()
        task = self._reader_task
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
