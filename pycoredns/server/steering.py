"""Which process of a UDP reuseport group gets a query: the question name's hash, and leaving.

Every DNS listener socket is opened with SO_REUSEPORT, so several processes can bind the same
address and port: the workers of one instance, and during an upgrade the workers of two
instances. The kernel keeps one *group* per address and port and, for each datagram, picks one
of the group's sockets.

**The name hash.** An instance with N workers attaches a classic BPF program to its UDP groups
(SO_ATTACH_REUSEPORT_CBPF) that returns ``hash(question name) mod N``: a name, whatever its
letter case and whatever the client's source port, always reaches the socket at the same index,
so the workers' caches together hold one cache's worth of names. The program reads the DNS
message (the UDP payload) from offset 12, up to 24 bytes of the name: for each byte it first
tests the packet length (a load past the end would end the program with 0), stops at the root
label's zero byte (so the type, class and EDNS record never count), ORs 0x20 into the byte (letter
case) and updates ``hash = hash * 31 + byte``. :func:`name_hash` is the same function in Python.

**The index space.** The kernel numbers a group's sockets in the order they joined; when one
closes, the last one takes its place; an index at or past the group's size falls back to the
kernel's own hash. So ``mod N`` is right whenever the group holds exactly the N sockets of one
instance, in whatever order (each index still maps to one worker), and it never loses a
datagram otherwise: a worker that died leaves an index past the end (the kernel's hash serves
it), and a second instance's sockets at indices N and up simply get no share. The program is
attached by an instance that is alone in its groups (:class:`Steering` decides) and replaces any
earlier one: one program per group.

**Leaving.** A socket ``connect()``-ed to its own address is in the TCP_ESTABLISHED state: the
kernel's hash never picks it, and a program that picks it is overruled (checked on this kernel:
the datagram goes to an unconnected socket of the group). So an instance that stops while
another one serves first detaches the program (through a socket not yet connected: a connected
one cannot attach or detach), then connects each of its UDP sockets to itself: new datagrams go
to the other instance's sockets only, while it still reads what is queued and answers the
queries in flight, and only then closes. A socket bound to the wildcard address leaves its group
on connect (the kernel gives it a source address); its replies still in flight then carry that
address, so zero loss needs listeners bound to addresses, as node-cache's are.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import logging
import socket
import struct
import termios
from collections.abc import Iterable

log = logging.getLogger("pycoredns")

SO_ATTACH_REUSEPORT_CBPF = 51
SO_DETACH_REUSEPORT_BPF = 68

NAME_OFFSET = 12  # the question name follows the 12-byte header
NAME_BYTES = 24  # how much of the name the hash reads
MULTIPLIER = 31

# Classic BPF opcodes (linux/filter.h, linux/bpf_common.h).
_LD_LEN = 0x80  # A = packet length
_LD_IMM = 0x00  # A = k
_LDB_ABS = 0x30  # A = byte at [k]
_LD_MEM = 0x60  # A = M[k]
_ST = 0x02  # M[k] = A
_TAX = 0x07  # X = A
_JGT_K = 0x25  # pc += (A > k) ? jt : jf
_JEQ_K = 0x15
_OR_K = 0x44
_MUL_K = 0x24
_ADD_X = 0x0C
_MOD_K = 0x94
_RET_A = 0x16

Instruction = tuple[int, int, int, int]  # code, jt, jf, k


def name_hash(name_wire: bytes) -> int:
    """The program's hash of a wire-format name (``b"\\x07example\\x03org\\x00"``), 32 bits."""
    h = 0
    for b in name_wire[:NAME_BYTES]:
        if b == 0:
            break
        h = (h * MULTIPLIER + (b | 0x20)) & 0xFFFFFFFF
    return h


def worker_of(name_wire: bytes, workers: int) -> int:
    """The socket index the program picks for a name in a group of ``workers`` sockets."""
    return name_hash(name_wire) % workers


def name_hash_program(workers: int) -> list[Instruction]:
    """The classic BPF program: ``name_hash(question name) % workers`` (no loops: unrolled)."""
    if not 1 <= workers <= 0xFFFF:
        raise ValueError(f"workers out of range: {workers}")
    per_byte = 10
    done = 2 + per_byte * NAME_BYTES  # index of the epilogue
    prog: list[Instruction] = [(_LD_IMM, 0, 0, 0), (_ST, 0, 0, 0)]  # M[0] = hash = 0
    for i in range(NAME_BYTES):
        at = len(prog)
        off = NAME_OFFSET + i
        prog += [
            (_LD_LEN, 0, 0, 0),
            (_JGT_K, 0, done - (at + 2), off),  # length > off: the byte exists, else done
            (_LDB_ABS, 0, 0, off),
            (_JEQ_K, done - (at + 4), 0, 0),  # the root label: the name ends here
            (_OR_K, 0, 0, 0x20),
            (_TAX, 0, 0, 0),
            (_LD_MEM, 0, 0, 0),
            (_MUL_K, 0, 0, MULTIPLIER),
            (_ADD_X, 0, 0, 0),
            (_ST, 0, 0, 0),
        ]
    assert len(prog) == done
    prog += [(_LD_MEM, 0, 0, 0), (_MOD_K, 0, 0, workers), (_RET_A, 0, 0, 0)]
    return prog


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def attach(sock: socket.socket, program: list[Instruction]) -> None:
    """Attach ``program`` to the reuseport group of ``sock`` (replacing the group's program)."""
    code = ctypes.create_string_buffer(b"".join(struct.pack("HBBI", *ins) for ins in program))
    fprog = _SockFprog(len(program), ctypes.addressof(code))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, bytes(fprog))


def detach(sock: socket.socket) -> None:
    """Remove the group's program (the kernel's own hash picks again); none attached is fine."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_DETACH_REUSEPORT_BPF, 0)
    except OSError as e:
        if e.errno != errno.ENOENT:
            raise


def leave(sock: socket.socket) -> None:
    """Take a UDP socket out of its group's choice: connected to itself, the kernel skips it."""
    host, port = sock.getsockname()[:2]
    if sock.family == socket.AF_INET6:
        scope = sock.getsockname()[3]
        sock.connect((host if host != "::" else "::1", port, 0, scope))
    else:
        sock.connect((host if host != "0.0.0.0" else "127.0.0.1", port))


def pending_bytes(sock: socket.socket) -> int:
    """The size of the next queued datagram (0 when the receive queue is empty)."""
    buf = fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0")
    return int(struct.unpack("i", buf)[0])


class Steering:
    """What this process does to its UDP groups: ``workers`` > 1 attaches the name hash.

    ``active`` says whether the program should be in force (the instance is alone in its groups,
    as far as it knows); sockets opened later (a reload that adds an address) get the same
    treatment through :meth:`opened`.
    """

    def __init__(self, workers: int, active: bool = True) -> None:
        self.workers = workers
        self.active = active
        self._program = name_hash_program(workers) if workers > 1 else None

    def opened(self, sock: socket.socket) -> None:
        """A UDP listener socket just bound: steer its group if this process should."""
        if self.active and self._program is not None:
            try:
                attach(sock, self._program)
            except OSError as e:
                log.warning("[WARNING] Cannot steer queries by name on %s: %s", _where(sock), e)

    def activate(self, socks: Iterable[socket.socket]) -> None:
        self.active = True
        for s in socks:
            self.opened(s)


def _where(sock: socket.socket) -> str:
    try:
        host, port = sock.getsockname()[:2]
    except OSError:
        return "a closed socket"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
