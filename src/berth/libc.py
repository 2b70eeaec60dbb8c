"""The system calls berth makes that Python's os module lacks: mount, umount2, syncfs, setns and
openat2, each raising OSError with the C library's errno.

Written against _ctypes, the C module beneath ctypes, for start-up time: `import ctypes` runs
ctypes/__init__.py (type classes, loaders, struct, endianness helpers), 1.6 ms in a `berth run`
process that has loaded the rest of berth, where _ctypes and the five functions here need 0.6 ms.
Every argument has a declared C type, as ctypes' own argtypes would give it.
"""
from __future__ import annotations

import _ctypes
import os
import sys


class _Int(_ctypes._SimpleCData):
    _type_ = "i"


class _Long(_ctypes._SimpleCData):
    _type_ = "l"


class _ULong(_ctypes._SimpleCData):
    _type_ = "L"


class _Text(_ctypes._SimpleCData):  # const char *, from bytes or None
    _type_ = "z"


class _Pointer(_ctypes._SimpleCData):  # void *, from bytes
    _type_ = "P"


class _Function(_ctypes.CFuncPtr):
    _flags_ = _ctypes.FUNCFLAG_CDECL | _ctypes.FUNCFLAG_USE_ERRNO
    _restype_ = _Int


class _Process:
    """The running program's own symbols (dlopen(NULL)): the C library berth is linked with."""
    _handle = _ctypes.dlopen(None, 0)


def _function(name: str, argtypes: tuple, restype=_Int):
    f = _Function((name, _Process))
    f.argtypes, f.restype = argtypes, restype
    return f


_mount = _function("mount", (_Text, _Text, _Text, _ULong, _Text))
_umount2 = _function("umount2", (_Text, _Int))
_syncfs = _function("syncfs", (_Int,))
_setns = _function("setns", (_Int, _Int))
# syscall(2) is variadic: the fixed argument types are openat2's
_openat2 = _function("syscall", (_Long, _Int, _Text, _Pointer, _ULong), restype=_Long)
_SYS_OPENAT2 = 437  # the same number on every architecture (added after the syscall table unification)


def _check(result: int, filename: str | None = None, call: str = "") -> int:
    """The result, or the errno as OSError (FileNotFoundError and the like, as os raises them),
    naming the file, or else the call."""
    if result < 0:
        err = _ctypes.get_errno()
        if filename is None:
            raise OSError(err, f"{call}: {os.strerror(err)}")
        raise OSError(err, os.strerror(err), filename)
    return result


def mount(source: str, target: str, fstype: str | None, flags: int = 0, data: str = "") -> None:
    _check(_mount(source.encode(), os.fsencode(target), fstype.encode() if fstype else None, flags,
                  data.encode() or None), target)


def umount2(target: str, flags: int) -> None:
    _check(_umount2(os.fsencode(target), flags), target)


def syncfs(fd: int) -> None:
    _check(_syncfs(fd), call="syncfs")


def setns(fd: int, nstype: int) -> None:
    _check(_setns(fd, nstype), call="setns")


def openat2(dir_fd: int, path: str, flags: int, mode: int, resolve: int) -> int:
    """openat2(2); struct open_how is three native 64-bit words: flags, mode, resolve."""
    how = b"".join(v.to_bytes(8, sys.byteorder) for v in (flags, mode, resolve))
    return _check(_openat2(_SYS_OPENAT2, dir_fd, os.fsencode(path), how, len(how)), path)
