"""Attaching to a container through its monitor's attach socket (SOCK_SEQPACKET).

The monitor sends each chunk of output with one leading byte naming the stream (2 stdout, 3 stderr;
4 is the monitor's own last word: why it detached us); whatever we send becomes the container's
stdin. Terminal resizes go through the `ctl` fifo.
"""
from __future__ import annotations

import _socket  # the C module: socket.py builds enums at import, milliseconds on every `berth run`
import os
import select

STDOUT_PIPE, STDERR_PIPE, NOTICE = 2, 3, 4
BUF = 32 * 1024


def connect(bundle: str):
    """The attach socket in the container's bundle; through /proc when the path is too long for
    a socket address (108 bytes)."""
    s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
    path = os.path.join(bundle, "attach")
    try:
        if len(os.fsencode(path)) < 108:
            s.connect(path)
            return s
        fd = os.open(bundle, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            s.connect(f"/proc/self/fd/{fd}/attach")
        finally:
            os.close(fd)
    except BaseException:
        s.close()
        raise
    return s


def resize(bundle: str, rows: int, cols: int) -> None:
    try:
        fd = os.open(os.path.join(bundle, "ctl"), os.O_WRONLY | os.O_NONBLOCK)
    except OSError:
        return
    try:
        os.write(fd, f"1 {rows} {cols}\n".encode())
    except OSError:
        pass
    finally:
        os.close(fd)


def pump(sock, stdin_fd: int | None, stdout_fd: int, stderr_fd: int) -> None:
    """Copy until the container's output ends. stdin EOF ends our input (for the client that
    started the container with -i, the container's stdin too).

    Input goes out only when the socket can take it, and output is read all the while: a
    container that reads its input slowly while it writes must never find both sides waiting on
    each other (the monitor holds input back while the container's stdin is full). Once the
    monitor takes no more input (the container's stdin is closed), what is left of ours is
    dropped and the output still comes to its end."""
    poller = select.poll()
    sock_fd = sock.fileno()
    sock.setblocking(False)
    poller.register(sock_fd, select.POLLIN)
    if stdin_fd is not None:
        poller.register(stdin_fd, select.POLLIN)
    pending = b""  # one chunk of input on its way: stdin is not read meanwhile
    notice = None
    gone = set()  # output fds whose reader has left
    while True:
        for fd, events in poller.poll():
            if fd != sock_fd:
                pending = os.read(stdin_fd, BUF)
                poller.unregister(stdin_fd)
                if pending:
                    poller.modify(sock_fd, select.POLLIN | select.POLLOUT)
                    continue
                try:
                    sock.shutdown(_socket.SHUT_WR)
                except OSError:
                    pass
                continue
            if events & select.POLLOUT and pending:
                try:
                    sock.send(pending)  # a message goes whole or not at all
                except BlockingIOError:
                    continue
                except OSError:  # EPIPE: the container's stdin is closed; or the monitor is gone
                    pending = b""
                    poller.modify(sock_fd, select.POLLIN)
                else:
                    pending = b""
                    poller.modify(sock_fd, select.POLLIN)
                    poller.register(stdin_fd, select.POLLIN)
            if events & (select.POLLIN | select.POLLHUP | select.POLLERR):
                try:
                    data = sock.recv(BUF + 1)
                except BlockingIOError:
                    continue
                except ConnectionResetError:
                    continue  # reported once, ahead of the output still queued for us: read on
                if not data:
                    if notice:
                        from berth.errors import BerthError
                        raise BerthError(notice)
                    return
                if data[0] == NOTICE:
                    notice = data[1:].decode(errors="replace")
                    continue
                out = stderr_fd if data[0] == STDERR_PIPE else stdout_fd
                if out not in gone:
                    try:
                        _write_all(out, data[1:])
                    except BrokenPipeError:  # its reader left (`| head -1`): the rest goes to the log only
                        gone.add(out)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]
