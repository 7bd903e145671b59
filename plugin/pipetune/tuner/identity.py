"""An experiment's identity: what defines it, recorded in its journal and compared on a rerun.

The identity is a plain JSON tree: the parameters, the objective, the algorithm and its
settings, the seed, early stopping, the trial (the template as it will run, after
``--local-command``; a component's spec and a content hash of its local program; a Python
objective's qualified name and a hash of its source) and the budget. Comparing the one a
journal holds with the one of the experiment run now is a pure decision (:func:`compare`):
the same experiment resumes, one whose budget alone changed goes on under the new budget (as
Katib lets a running experiment's budget be edited), and any other change is refused, naming
each field with its old and new value.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path
from typing import Any

from pipetune.errors import SpecError
from pipetune.programs import local_program

#: The identity's budget section: what may change between runs of one experiment.
BUDGET = "budget"
BUDGET_FIELDS = ("maxTrialCount", "parallelTrialCount", "maxFailedTrialCount", "maxTrialRetries", "trialTimeout")
#: A local program larger than this is identified by its size and modification time only.
HASH_LIMIT = 64 * 1024 * 1024


@dataclass(frozen=True)
class Change:
    """One field that differs: its dotted path, the old and the new value (None: absent)."""

    field: str
    old: Any
    new: Any

    def describe(self) -> str:
        return f"{self.field}: {_shown(self.old)} -> {_shown(self.new)}"


@dataclass(frozen=True)
class Comparison:
    """How a journal's identity compares with the experiment's: ``changes`` outside the budget
    (the experiment is another one), ``budget`` changes (it goes on under the new budget), and
    ``legacy`` when the journal predates identities (trusted as it is)."""

    changes: tuple[Change, ...] = ()
    budget: tuple[Change, ...] = ()
    legacy: bool = False

    @property
    def same(self) -> bool:
        return not self.changes


class ExperimentChanged(SpecError, ValueError):
    """The experiment directory holds another experiment: what changed, and the ways on."""

    def __init__(self, message: str, changes: Sequence[Change]) -> None:
        super().__init__(message)
        self.changes = tuple(changes)


def compare(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> Comparison:
    """Compare a journal's identity (None for a journal written before identities) with the
    experiment's. Pure."""
    if old is None:
        return Comparison(legacy=True)
    before, after = dict(flatten(old)), dict(flatten(new))
    changes: list[Change] = []
    budget: list[Change] = []
    for path in sorted(set(before) | set(after), key=lambda p: _order(p, new, old)):
        if before.get(path, _MISSING) == after.get(path, _MISSING):
            continue
        change = Change(path, before.get(path), after.get(path))
        (budget if path.startswith(BUDGET + ".") else changes).append(change)
    return Comparison(tuple(changes), tuple(budget))


_MISSING = object()


def _order(path: str, *trees: Mapping[str, Any]) -> tuple[int, str]:
    """Fields in the order the identity lists its sections, then by path."""
    head = path.split(".", 1)[0].split("[", 1)[0]
    for tree in trees:
        keys = list(tree)
        if head in keys:
            return keys.index(head), path
    return len(trees[0]), path


def flatten(tree: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Every leaf of a JSON tree with its dotted path (``a.b[0].c``); an empty container is a
    leaf of its own, so adding or removing one is a change."""
    if isinstance(tree, Mapping) and tree:
        for key, value in tree.items():
            name = str(key)
            part = name if name.replace("_", "").replace("-", "").isalnum() else json.dumps(name)
            yield from flatten(value, f"{prefix}.{part}" if prefix else part)
    elif isinstance(tree, list) and tree:
        for index, value in enumerate(tree):
            yield from flatten(value, f"{prefix}[{index}]")
    else:
        yield prefix, tree


def fingerprint(identity: Mapping[str, Any]) -> str:
    """A short digest of an identity without its budget: equal for the same experiment."""
    core = {key: value for key, value in identity.items() if key != BUDGET}
    return hashlib.sha256(canonical(core).encode()).hexdigest()[:16]


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def plain(value: Any) -> Any:
    """``value`` as JSON data: dataclasses as their fields, tuples as lists, mappings as dicts,
    anything else JSON can't hold as its text."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in fields(value) if f.compare and not f.name.startswith("_")}
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else str(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return str(value)


def function_identity(function: Callable[..., Any]) -> dict[str, Any]:
    """A Python objective: its qualified name and a hash of its source. A lambda is hashed by
    its code instead (its source line holds the call around it, whose budget may change), and
    so is a function whose source can't be read (typed at an interactive prompt); a
    ``functools.partial`` adds its bound arguments."""
    if isinstance(function, functools.partial):
        inner = function_identity(function.func)
        return {**inner, "arguments": _stable_text((function.args, sorted(function.keywords.items())))}
    target: Any = inspect.unwrap(function)
    if not inspect.isroutine(target) and not isinstance(target, type) and callable(target):
        target = type(target).__call__  # a callable object: its class's __call__
    name = f"{getattr(target, '__module__', '?')}.{getattr(target, '__qualname__', type(target).__qualname__)}"
    code = getattr(target, "__code__", None)
    source: str | None = None
    if getattr(target, "__name__", "") != "<lambda>":
        try:
            source = inspect.getsource(target)
        except (OSError, TypeError):
            source = None
    if source is None:
        source = _code_text(code) if code is not None else name
    return {"function": name, "source": "sha256:" + hashlib.sha256(source.encode()).hexdigest()[:16]}


def _code_text(code: Any) -> str:
    """A code object as stable text: its bytecode, names and constants, nested code included
    (a code object's repr holds a memory address)."""
    consts = [_code_text(c) if inspect.iscode(c) else _stable_text(c) for c in code.co_consts]
    return repr((code.co_code.hex(), code.co_names, code.co_varnames, consts))


def _stable_text(value: Any) -> str:
    """``repr`` without memory addresses (``<object at 0x...>``)."""
    return re.sub(r" at 0x[0-9a-fA-F]+", "", repr(value))


def program_hashes(argv: Sequence[Any], folder: Path | None = None) -> dict[str, str]:
    """Content hashes of the local program ``argv`` runs: its program when that is a file, and
    for an interpreter (``python``, ``bash``...) the script it is given. Placeholders and
    missing files are skipped: only what exists now can be compared later."""
    words = [w for w in argv if isinstance(w, str)]
    if not words:
        return {}
    found: dict[str, str] = {}
    candidates: list[str] = []
    program = words[0]
    if os.sep in program:
        candidates.append(program)
    mapped = local_program(words[:1])
    interpreter = os.path.basename(program).rstrip("0123456789.") in ("python", "bash", "sh", "Rscript", "node", "perl")
    if mapped is not None and interpreter:
        script = next((w for w in words[1:] if not w.startswith("-")), None)
        # ``python -m pkg`` and ``bash -c '...'`` run no script file.
        flags = [w for w in words[1:] if w.startswith("-")]
        if script is not None and not any(flag in ("-m", "-c") for flag in flags[:1]):
            candidates.append(script)
    for candidate in candidates:
        path = Path(candidate)
        if not path.is_absolute() and folder is not None and (folder / path).is_file():
            path = folder / path
        digest = file_digest(path)
        if digest is not None:
            found[candidate] = digest
    return found


def file_digest(path: Path) -> str | None:
    """``sha256:...`` of a regular file's bytes; None when it is not one."""
    try:
        if not path.is_file():
            return None
        size = path.stat().st_size
        if size > HASH_LIMIT:
            stat = path.stat()
            return f"size {size}, modified {int(stat.st_mtime)}"
        with open(path, "rb") as handle:
            return "sha256:" + hashlib.file_digest(handle, "sha256").hexdigest()[:16]
    except OSError:
        return None


def changed_message(where: str, name: str, changes: Sequence[Change], fresh: str) -> str:
    """The refusal: each changed field with its old and new value, and the two ways on."""
    listed = "; ".join(change.describe() for change in changes[:12])
    more = f"; and {len(changes) - 12} more" if len(changes) > 12 else ""
    return (
        f"{where}: holds experiment {name!r} with different settings ({listed}{more}); "
        f"run with {fresh} to start over (the old journal and trials are kept as an earlier "
        "attempt), or use another experiment directory"
    )


def _shown(value: Any) -> str:
    if value is None:
        return "(none)"
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
