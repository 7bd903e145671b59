"""The results file, schema v1: validated on read and on write, written atomically."""

from __future__ import annotations

import math
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipetune.atomic import atomic_write_text
from pipetune.errors import ContractError
from pipetune.limits import MAX_RESULTS_ENTRIES, RESULTS_LIMITS
from pipetune.yamlsafe import dump_yaml, load_yaml_file, load_yaml_text, within_limits

API_VERSION = "pipetune.dev/v1"
API_GROUP = "pipetune.dev"
RESULTS_FILE = "results.yaml"
#: The kubelet copies at most this many bytes of a termination message into the pod status;
#: Tekton's default task results have the same limit.
CHANNEL_LIMIT_BYTES = 4096
DEFAULT_OUTPUTS_DIR = "/outputs"
OUTPUTS_ENV = "PIPETUNE_OUTPUTS"

_FIELDS = ("apiVersion", "metrics", "outputs", "artifacts", "history", "checkpoint")


def outputs_dir() -> Path:
    """The directory a component writes its results into: ``$PIPETUNE_OUTPUTS`` or ``/outputs``."""
    return Path(os.environ.get(OUTPUTS_ENV) or DEFAULT_OUTPUTS_DIR)


def results_path(directory: str | os.PathLike[str] | None = None) -> Path:
    """The results file inside ``directory`` (default: :func:`outputs_dir`)."""
    return Path(directory if directory is not None else outputs_dir()) / RESULTS_FILE


@dataclass(frozen=True)
class Checkpoint:
    """Where a run's newest checkpoint lives, as recorded in results.yaml."""

    uri: str
    step: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"uri": self.uri}
        if self.step is not None:
            data["step"] = self.step
        if self.metadata:
            data["metadata"] = dict(self.metadata)
        return data


@dataclass(frozen=True)
class Results:
    """The content of one results.yaml. Build it with :meth:`from_dict` to validate."""

    metrics: dict[str, float] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, str] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)
    checkpoint: Checkpoint | None = None

    @classmethod
    def from_dict(cls, data: Any, source: str = RESULTS_FILE) -> Results:
        """Validate a parsed results document; ``source`` names the file in errors."""
        if not isinstance(data, dict):
            raise ContractError(
                f"{source}: expected a mapping with apiVersion: {API_VERSION}, "
                f"got {_kind(data)}"
            )
        unknown = [key for key in data if key not in _FIELDS]
        if unknown:
            raise ContractError(
                f"{source}: unknown field {unknown[0]!r}; expected one of {', '.join(_FIELDS)}"
            )
        _check_api_version(data.get("apiVersion"), source)
        return cls(
            metrics=_metrics(data.get("metrics"), f"{source}: metrics"),
            outputs=_outputs(data.get("outputs"), f"{source}: outputs"),
            artifacts=_artifacts(data.get("artifacts"), f"{source}: artifacts"),
            history=_history(data.get("history"), f"{source}: history"),
            checkpoint=_checkpoint(data.get("checkpoint"), f"{source}: checkpoint"),
        )

    def to_dict(self) -> dict[str, Any]:
        """The document as written to disk; empty sections are left out."""
        data: dict[str, Any] = {"apiVersion": API_VERSION}
        if self.metrics:
            data["metrics"] = dict(self.metrics)
        if self.outputs:
            data["outputs"] = dict(self.outputs)
        if self.artifacts:
            data["artifacts"] = dict(self.artifacts)
        if self.history:
            data["history"] = [dict(entry) for entry in self.history]
        if self.checkpoint is not None:
            data["checkpoint"] = self.checkpoint.to_dict()
        return data

    def to_yaml(self) -> str:
        return dump_yaml(self.to_dict())


def parse_results(text: str, source: str = RESULTS_FILE) -> Results:
    """Parse and validate results.yaml text (under the limits of :mod:`pipetune.limits`)."""
    return Results.from_dict(load_yaml_text(text, source, ContractError, limits=RESULTS_LIMITS), source)


def read_results(path: str | os.PathLike[str] | None = None) -> Results:
    """Read and validate a results file, or the results.yaml inside a directory.

    With no argument, reads the current run's results from :func:`outputs_dir`. The file must
    be a regular file of at most ``RESULTS_MAX_BYTES`` in its folder (a symbolic link leading
    out of the outputs directory, a FIFO or a device is refused); ``ContractError`` says why.
    """
    target = Path(path) if path is not None else results_path()
    if target.is_dir():
        target = target / RESULTS_FILE
    data = load_yaml_file(target, ContractError, limits=RESULTS_LIMITS, within=target.parent)
    return Results.from_dict(data, str(target))


def write_results(
    results: Results | Mapping[str, Any], directory: str | os.PathLike[str] | None = None, *, durable: bool = True
) -> Path:
    """Validate and atomically write ``results`` as ``directory/results.yaml``.

    Warns on stderr (once per file) when the text will not fit the 4096-byte channel that
    Kubernetes termination messages and Tekton results offer; refuses (``ContractError``, the
    file left as it was) results that no reader would accept (past the limits of
    :mod:`pipetune.limits`). ``durable=False``: atomic but not synced (``atomic_write_bytes``),
    for results whose values a durable record holds too (the tuner's journal).
    """
    target = results_path(directory)
    if not isinstance(results, Results):
        results = Results.from_dict(dict(results), str(target))
    text = _rendered(results, target)
    atomic_write_text(target, text, durable=durable)
    warn_if_oversized(text, target)
    return target


def check_results(results: Results, directory: str | os.PathLike[str] | None = None) -> None:
    """Raise the ``ContractError`` that :func:`write_results` would raise for ``results``,
    writing nothing: for results whose values go elsewhere (a function trial's, to the
    journal and the run store). A few metrics, the common case, are judged without rendering
    the YAML: an upper bound on its size (every character escaped) is far below the limits."""
    if not (results.outputs or results.artifacts or results.history or results.checkpoint):
        # "  name: value\n" per metric: an escaped character takes at most 10 ("\\UXXXXXXXX"),
        # a float's repr at most 24, plus the header's few bytes.
        size = 64 + sum(10 * len(name) + 32 for name in results.metrics)
        if size <= RESULTS_LIMITS.max_bytes and 4 + 2 * len(results.metrics) <= RESULTS_LIMITS.max_nodes:
            return
    _rendered(results, results_path(directory))


def _rendered(results: Results, target: Path) -> str:
    """The YAML text of ``results``, refused past the limits of a results file."""
    data = results.to_dict()
    text = dump_yaml(data)
    within_limits(data, text, str(target), ContractError, RESULTS_LIMITS)
    return text


_warned: set[str] = set()


def oversize_message(text: str) -> str | None:
    """Why ``text`` will not travel through a 4 KB cluster channel, or None if it will."""
    size = len(text.encode("utf-8"))
    if size <= CHANNEL_LIMIT_BYTES:
        return None
    return (
        f"results are {size} bytes, above the {CHANNEL_LIMIT_BYTES}-byte limit of Kubernetes "
        "termination messages and Tekton results; keep large values in artifacts"
    )


def warn_if_oversized(text: str, target: Path) -> None:
    message = oversize_message(text)
    if message and str(target) not in _warned:
        _warned.add(str(target))
        print(f"pipetune: warning: {target}: {message}", file=sys.stderr)


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    return type(value).__name__


def _check_api_version(value: Any, source: str) -> None:
    if value is None:
        raise ContractError(f"{source}: apiVersion is missing; expected {API_VERSION}")
    if not isinstance(value, str) or "/" not in value:
        raise ContractError(f"{source}: apiVersion: expected {API_VERSION}, got {value!r}")
    group, version = value.split("/", 1)
    if group != API_GROUP or not version.startswith("v") or not version[1:2].isdigit():
        raise ContractError(f"{source}: apiVersion: expected {API_VERSION}, got {value!r}")
    major = version[1:].split(".")[0].split("alpha")[0].split("beta")[0]
    if major != "1":
        raise ContractError(
            f"{source}: apiVersion {value!r} is a version this pipetune does not read; "
            f"expected {API_VERSION}"
        )


_YAML12_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)")


def check_metric(name: Any, value: Any, where: str) -> float:
    """Return ``value`` as a finite float or raise naming ``where`` and the metric."""
    if not isinstance(name, str) or not name:
        raise ContractError(f"{where}: metric names must be non-empty strings, got {name!r}")
    if isinstance(value, str) and _YAML12_FLOAT.fullmatch(value.strip()):
        # YAML 1.2 writers (Go's yaml.v3, ruamel) write 9e-06 without a dot, which PyYAML's
        # YAML 1.1 resolver reads as a string; it is a number in every writer's intent.
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ContractError(f"{where}.{name}: expected a finite number, got {value!r}")
    if isinstance(value, int) and _beyond_float(value):
        raise ContractError(f"{where}.{name}: {_short(value)} is not a finite float (an integer beyond float range)")
    number = float(value)
    if not math.isfinite(number):
        raise ContractError(f"{where}.{name}: expected a finite number, got {value!r}")
    return value if isinstance(value, int) else number


def _beyond_float(value: int) -> bool:
    try:
        float(value)
    except OverflowError:
        return True
    return False


def _short(value: int) -> str:
    """A huge integer as ``1e400`` (its digits would fill a screen)."""
    digits = str(abs(value)) if value.bit_length() < 14000 else None  # under Python's str limit
    if digits is None:
        return f"an integer of {value.bit_length()} bits"
    mantissa = (digits[0] + "." + digits[1:4]).rstrip("0").rstrip(".")
    return f"{'-' if value < 0 else ''}{mantissa}e{len(digits) - 1}"


def _mapping(value: Any, where: str) -> dict[Any, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ContractError(f"{where}: expected a mapping, got {_kind(value)}")
    _check_count(len(value), MAX_RESULTS_ENTRIES, where)
    return value


def _check_count(count: int, limit: int, where: str) -> None:
    if count > limit:
        raise ContractError(f"{where}: {count} entries; at most {limit} (keep large values in artifacts)")


def _metrics(value: Any, where: str) -> dict[str, float]:
    return {name: check_metric(name, v, where) for name, v in _mapping(value, where).items()}


def _plain(value: Any, where: str) -> Any:
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ContractError(f"{where}: expected a finite number, got {value!r}")
        return value
    if isinstance(value, list):
        return [_plain(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, dict):
        return {str(k): _plain(v, f"{where}.{k}") for k, v in value.items()}
    raise ContractError(f"{where}: expected a plain YAML value, got {_kind(value)}")


def _outputs(value: Any, where: str) -> dict[str, Any]:
    outputs = _mapping(value, where)
    for name in outputs:
        if not isinstance(name, str) or not name:
            raise ContractError(f"{where}: output names must be non-empty strings, got {name!r}")
    return {name: _plain(v, f"{where}.{name}") for name, v in outputs.items()}


def _artifacts(value: Any, where: str) -> dict[str, str]:
    artifacts = _mapping(value, where)
    for name, location in artifacts.items():
        if not isinstance(name, str) or not isinstance(location, str) or not location:
            raise ContractError(
                f"{where}.{name}: expected a path relative to the outputs directory or a URI, "
                f"got {location!r}"
            )
    return dict(artifacts)


def _history(value: Any, where: str) -> list[dict[str, float]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ContractError(f"{where}: expected a list of {{step, metric: value}} maps")
    history = []
    for i, entry in enumerate(value):
        item = f"{where}[{i}]"
        if not isinstance(entry, dict):
            raise ContractError(f"{item}: expected a mapping of metric values, got {_kind(entry)}")
        _check_count(len(entry), MAX_RESULTS_ENTRIES, item)
        checked: dict[str, float] = {}
        for name, v in entry.items():
            if name == "step":
                checked[name] = _step(v, f"{item}.step")
            else:
                checked[name] = check_metric(name, v, item)
        history.append(checked)
    return history


def _checkpoint(value: Any, where: str) -> Checkpoint | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ContractError(f"{where}: expected a mapping with uri, step, metadata")
    unknown = [k for k in value if k not in ("uri", "step", "metadata")]
    if unknown:
        raise ContractError(f"{where}: unknown field {unknown[0]!r}; expected uri, step, metadata")
    uri = value.get("uri")
    if not isinstance(uri, str) or not uri:
        raise ContractError(f"{where}.uri: expected a path or URI, got {uri!r}")
    step = value.get("step")
    if step is not None:
        step = _step(step, f"{where}.step")
    metadata = _mapping(value.get("metadata"), f"{where}.metadata")
    return Checkpoint(uri=uri, step=step, metadata=_plain(metadata, f"{where}.metadata"))


def _step(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ContractError(f"{where}: expected an integer, got {value!r}")
    if _beyond_float(value):
        raise ContractError(f"{where}: {_short(value)} is beyond float range; expected a step count")
    return value
