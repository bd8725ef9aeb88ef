"""A TCP proxy in front of the shared PostgreSQL, so a test can make the database go away for
its own connections only: end every session the way a server shutdown does (`end_sessions`),
refuse connections (`close`), and come back (`open`)."""

from __future__ import annotations

import asyncio
import contextlib
import struct


def fatal(sqlstate: str, message: str) -> bytes:
    """A PostgreSQL ErrorResponse of severity FATAL (what a fast shutdown sends every session)."""
    fields = b"".join(
        code + value.encode() + b"\0"
        for code, value in ((b"S", "FATAL"), (b"V", "FATAL"), (b"C", sqlstate), (b"M", message))
    )
    body = fields + b"\0"
    return b"E" + struct.pack("!I", len(body) + 4) + body


ADMIN_SHUTDOWN = fatal("57P01", "terminating connection due to administrator command")


class PostgresProxy:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.listen_port = 0
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.StreamWriter] = set()
        self._pumps: set[asyncio.Task[None]] = set()

    async def open(self) -> None:
        self._server = await asyncio.start_server(
            self._accept, "127.0.0.1", self.listen_port, reuse_address=True
        )
        self.listen_port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        """Refuse new connections and cut the open ones."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._clients):
            writer.transport.abort()
        await asyncio.gather(*self._pumps, return_exceptions=True)

    async def end_sessions(self) -> int:
        """Send every open session a FATAL admin_shutdown, as `pg_ctl stop -m fast` does, but
        leave the sockets open (the moment before the server closes them). Returns how many."""
        for writer in self._clients:
            writer.write(ADMIN_SHUTDOWN)
        await asyncio.gather(*(w.drain() for w in self._clients))
        return len(self._clients)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(self.host, self.port)
        except OSError:
            writer.transport.abort()
            return
        self._clients.add(writer)
        pumps = [
            asyncio.create_task(self._pump(reader, up_writer)),
            asyncio.create_task(self._pump(up_reader, writer)),
        ]
        self._pumps.update(pumps)
        try:
            await asyncio.gather(*pumps, return_exceptions=True)
        finally:
            self._pumps.difference_update(pumps)
            self._clients.discard(writer)
            for w in (writer, up_writer):
                w.transport.abort()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.transport.abort()  # one side ended: end the other
