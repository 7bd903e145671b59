"""Checkpoints for any run: atomic, retained, resumable (see ``_store`` and ``_api``); the stores
a run, an experiment or a URI names (``find_entities``)."""

from pipetune.checkpoints._api import (
    CHECKPOINTS_ENV,
    RESUME_ENV,
    checkpoint,
    checkpoints_uri,
    latest_checkpoint,
    resume_from,
    resume_info,
    save_checkpoint,
    store,
)
from pipetune.checkpoints._entities import Entity, find_entities
from pipetune.checkpoints._store import (
    MARKER,
    CheckpointInfo,
    CheckpointStore,
    Retention,
)

__all__ = [
    "CHECKPOINTS_ENV",
    "MARKER",
    "RESUME_ENV",
    "CheckpointInfo",
    "CheckpointStore",
    "Entity",
    "Retention",
    "checkpoint",
    "checkpoints_uri",
    "find_entities",
    "latest_checkpoint",
    "resume_from",
    "resume_info",
    "save_checkpoint",
    "store",
]
