"""Names pipetune derives from names users give: one rule per kind of place a name goes.

* :func:`experiment_name`: an Experiment (and so a Kubernetes object) name: lower-case
  letters, digits and ``-``, starting with a letter, at most :data:`EXPERIMENT_NAME_MAX`
  characters, shortened with a digest so two long names stay distinct.
* :func:`path_slug`: a file-system and run-id safe form of any text (letters, digits,
  ``_``, ``.``, ``-``), for folders and store ids named after an experiment.
* :func:`trial_name`: a trial's resource on a cluster, ``<experiment>-<index>[-<attempt>]``.
"""

from __future__ import annotations

import hashlib
import re

#: Katib's limit on an Experiment name: trial names (``<experiment>-<suffix>``) derive from it
#: and must still be valid names and label values.
EXPERIMENT_NAME_MAX = 40

_NOT_DNS = re.compile(r"[^a-z0-9-]+")
_NOT_PATH = re.compile(r"[^A-Za-z0-9_.-]+")
_DIGEST = 6


def experiment_name(text: str, fallback: str = "experiment", max_length: int = EXPERIMENT_NAME_MAX) -> str:
    """``text`` as a valid Experiment name: other characters become ``-``; a name that does not
    start with a letter gets an ``x`` in front (not stripped: ``1-a`` and ``2-a`` stay distinct);
    a name longer than ``max_length`` keeps its start and ends with a digest of the whole."""
    name = _NOT_DNS.sub("-", text.lower()).strip("-") or fallback
    if not name[0].isalpha():
        name = "x" + name
    if len(name) > max_length:
        digest = hashlib.sha256(name.encode()).hexdigest()[:_DIGEST]
        name = name[: max_length - _DIGEST - 1].rstrip("-") + "-" + digest
    return name


def trial_name(experiment: str, index: int, attempt: int = 0) -> str:
    """The name of trial ``index``'s resource (attempt ``attempt``) of ``experiment``:
    deterministic, so a restarted tuner finds its Kubernetes children again and a dashboard
    finds a trial's pods. ``<experiment>-<index>``, and ``-<attempt>`` for a retry."""
    name = f"{experiment}-{index:04d}"
    return f"{name}-{attempt}" if attempt else name


def path_slug(text: str, fallback: str = "experiment") -> str:
    """``text`` safe as one path component or id: runs of other characters become one ``-``."""
    return _NOT_PATH.sub("-", text).strip("-.") or fallback
