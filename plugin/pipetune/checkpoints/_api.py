"""Checkpoints from inside a component: where they go, saving one, resuming from one.

A run's checkpoints live at ``$PIPETUNE_CHECKPOINTS`` (a local path or any fsspec URI), set by
the engine so that a retried or resumed run finds its predecessor's; without it, under
``<outputs>/checkpoints``. A retried or resumed run gets ``$PIPETUNE_RESUME_FROM``, the URI of
the newest complete checkpoint: :func:`resume_from` gives it as a local directory.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pipetune.checkpoints._store import CheckpointInfo, CheckpointStore, Retention
from pipetune.contract import Checkpoint, outputs_dir, save_results
from pipetune.errors import ContractError

CHECKPOINTS_ENV = "PIPETUNE_CHECKPOINTS"
RESUME_ENV = "PIPETUNE_RESUME_FROM"
#: ``latest``: resume from the newest complete checkpoint in ``$PIPETUNE_CHECKPOINTS``. For
#: pods a controller restarts with the same environment (a bridge's replicas), where no one
#: can hand them a ``PIPETUNE_RESUME_FROM``.
RESUME_POLICY_ENV = "PIPETUNE_RESUME"


def checkpoints_uri() -> str:
    """Where this run's checkpoints go."""
    return os.environ.get(CHECKPOINTS_ENV, "").strip() or str(outputs_dir() / "checkpoints")


def store(retention: Retention | None = None) -> CheckpointStore:
    """This run's checkpoint store."""
    return CheckpointStore(checkpoints_uri(), retention)


@contextmanager
def checkpoint(
    step: int | None = None, retention: Retention | None = None, **metadata: Any
) -> Iterator[Path]:
    """Fill the yielded directory; when the block ends, it is this run's newest checkpoint,
    results.yaml's ``checkpoint`` points at it and retention runs (keep the last 3 by default).

    ``metadata`` is free-form JSON (a ``kind``, ``metrics`` for best-K retention, anything);
    ``step`` is optional.
    """
    target = store(retention)
    with target.writing(step, **metadata) as directory:
        yield directory
    saved = target.last_saved
    save_results(checkpoint=Checkpoint(saved.uri, saved.step, dict(saved.metadata)))


def save_checkpoint(
    source: str | os.PathLike[str], step: int | None = None, retention: Retention | None = None, **metadata: Any
) -> CheckpointInfo:
    """Checkpoint a copy of ``source`` (a directory or a file); see :func:`checkpoint`."""
    with checkpoint(step, retention, **metadata) as directory:
        source_path = Path(source)
        if not source_path.exists():
            raise ContractError(f"checkpoint source {source}: does not exist")
        if source_path.is_dir():
            shutil.copytree(source_path, directory, dirs_exist_ok=True)
        else:
            shutil.copy2(source_path, directory / source_path.name)
    saved = store().latest()
    if saved is None:  # the checkpoint just written is complete, and retention keeps the newest
        raise ContractError(f"{checkpoints_uri()}: the checkpoint just saved is not in the store")
    return saved


def latest_checkpoint() -> CheckpointInfo | None:
    """This run's newest complete checkpoint, or None."""
    return store().latest()


def resume_info() -> CheckpointInfo | None:
    """The checkpoint this run resumes from (``$PIPETUNE_RESUME_FROM``, or with
    ``PIPETUNE_RESUME=latest`` the newest in its store), or None for a fresh start;
    ``ContractError`` naming the URI when it names nothing complete."""
    uri = os.environ.get(RESUME_ENV, "").strip()
    if not uri:
        if os.environ.get(RESUME_POLICY_ENV, "").strip() == "latest":
            return store().latest()
        return None
    parent, _, name = uri.rstrip("/").rpartition("/")
    try:
        return CheckpointStore(parent or ".").get(name)
    except ContractError:
        raise ContractError(f"${RESUME_ENV}={uri}: no complete checkpoint there") from None


def resume_from() -> Path | None:
    """The checkpoint to resume from as a local directory, or None for a fresh start."""
    info = resume_info()
    if info is None:
        return None
    parent = info.uri.rstrip("/").rpartition("/")[0]
    return CheckpointStore(parent).load(info)
