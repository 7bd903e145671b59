"""Atomic, durable file writes: a reader sees the old file or the new one, never half of one,
and a write that returned survives a power loss.

Also the pieces the journal shares: ``write_all`` (``os.write`` may write less than it was
given) and ``fsync_directory``/``make_directories`` (a new name is durable only once its
directory is synced).
"""

from __future__ import annotations

import errno
import os
import secrets
from pathlib import Path

#: Errors of a directory fsync that mean the file system can't do it (some FUSE and network
#: file systems), not that it failed.
_NO_DIRECTORY_SYNC = frozenset({errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EBADF, errno.EISDIR})


def atomic_write_text(path: str | os.PathLike[str], text: str, *, durable: bool = True) -> Path:
    """Write ``text`` (UTF-8) to ``path`` through a temporary file in the same directory.

    See ``atomic_write_bytes``.
    """
    return atomic_write_bytes(path, text.encode("utf-8"), durable=durable)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, *, durable: bool = True) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same directory.

    The temporary file is written in full, fsynced, renamed over ``path`` (``os.replace``), and
    the directory is fsynced: a crash leaves either the previous content or the complete new
    one, and once this returns the new one survives a power loss. The file gets the mode a
    plain ``open(path, "w")`` gives a new file, ``0o666`` less the umask (``tempfile.mkstemp``
    would make it ``0o600``, unreadable to a teammate).

    One exception: a path that is a mount point can't be replaced (``EBUSY``). The kubelet
    bind-mounts a container's termination-message file, and pipetune points that at
    ``/outputs/results.yaml``; there the file is rewritten in place (truncated, written,
    fsynced), the only write the mount allows. The kubelet reads it after the container exits.

    ``durable=False`` keeps the atomicity (a reader still sees the old file or the new one)
    but skips every fsync: for a file whose content is also kept durably elsewhere, so a power
    loss that takes it loses nothing (the caller says why in a comment).

    Raises ``OSError`` (a full disk, a read-only directory) with no temporary file left behind,
    its ``filename`` the file that could not be written.
    """
    target = Path(path)
    make_directories(target.parent, durable=durable)
    try:
        return _write_replacing(target, data, durable)
    except OSError as exc:
        if exc.filename is None:  # os.write and fsync name no file: say which one it was
            raise OSError(exc.errno, exc.strerror or str(exc), str(target)) from None
        raise


def _write_replacing(target: Path, data: bytes, durable: bool = True) -> Path:
    fd, tmp = _create_temporary(target)
    try:
        try:
            write_all(fd, data)
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.replace(tmp, target)
        except OSError as exc:
            if exc.errno != errno.EBUSY:
                raise
            _rewrite_in_place(target, data)
            os.unlink(tmp)
        else:
            if durable:
                fsync_directory(target.parent)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return target


def write_all(fd: int, data: bytes) -> None:
    """Write every byte of ``data`` to ``fd``: ``os.write`` may write less than it is given (a
    signal, a disk that fills up mid-way), so loop until all is written; an ``OSError`` says
    why it could not be (the bytes written before it stay written)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written <= 0:
            raise OSError(errno.ENOSPC, f"wrote nothing of the last {len(view)} bytes")
        view = view[written:]


def fsync_directory(path: str | os.PathLike[str]) -> None:
    """Make the names in directory ``path`` durable (a new file, a rename). A file system that
    can't sync a directory is let be; any other failure is an ``OSError``."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except PermissionError:
        return  # a directory this user may write but not list: nothing to sync it through
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in _NO_DIRECTORY_SYNC:
            raise
    finally:
        os.close(fd)


def make_directories(path: str | os.PathLike[str], *, durable: bool = True) -> None:
    """``mkdir -p path``, each directory it creates made durable in its parent (unless not
    ``durable``)."""
    directory = Path(path)
    missing: list[Path] = []
    while not directory.is_dir():
        missing.append(directory)
        if directory.parent == directory:
            break
        directory = directory.parent
    for created in reversed(missing):
        try:
            created.mkdir()
        except FileExistsError:
            if not created.is_dir():
                raise
            continue  # made by someone else meanwhile: theirs to sync
        if durable:
            fsync_directory(created.parent)


def _create_temporary(target: Path) -> tuple[int, str]:
    """A new, empty file next to ``target``, created as ``open`` creates one (0o666 less the
    umask, which the kernel applies), with a name no one else has."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = str(target.parent / f".{target.name}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no unused temporary file name", str(target.parent))


def _rewrite_in_place(target: Path, data: bytes) -> None:
    fd = os.open(target, os.O_WRONLY | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0))
    try:
        write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
