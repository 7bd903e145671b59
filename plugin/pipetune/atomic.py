"""Atomic file writes: a reader sees the old file or the new one, never half of one."""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file in the same directory.

    The temporary file is flushed and fsynced before ``os.replace`` so that a crash leaves
    either the previous content or the complete new one.

    One exception: a path that is a mount point can't be replaced (``EBUSY``). The kubelet
    bind-mounts a container's termination-message file, and pipetune points that at
    ``/outputs/results.yaml``; there the file is rewritten in place (truncated, written,
    fsynced), the only write the mount allows. The kubelet reads it after the container exits.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.replace(tmp, target)
        except OSError as exc:
            if exc.errno != errno.EBUSY:
                raise
            with open(target, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.unlink(tmp)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return target
