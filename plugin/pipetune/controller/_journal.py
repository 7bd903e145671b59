"""The tuner's journal as a parent keeps it, as plain functions over plain data: the recent
records in the parent's status, the older ones frozen into compressed segments archived in
ConfigMaps the parent owns. The I/O (writing and reading those ConfigMaps) is ``_reconcile``'s.

Why: the whole journal used to be rewritten with every status update (1.17 MB a write at 2,000
trials, past etcd's ~1.5 MiB object limit near 2,500), then frozen segments were kept in the
status itself (1.2 MB at 3,000 trials with 20-point curves: still linear). Now the status holds
at most ``Layout.segment`` - 1 records and a reference of constant size (``ARCHIVE_FIELD``):
bounded, however many trials run (bench/controller_status.py).

The archive:

- Every ``Layout.segment`` records are frozen into one segment (``_encode_segment``: laid out
  by field, zlib, base64), keyed by its number (``000000``, ``000001``...). A segment encodes
  the same every time, so it is written once.
- Segments go, in order, into ConfigMaps ``<base>-00000``, ``<base>-00001``... (``base`` from
  the parent's kind and name, ``archive_base``), each filled up to ``Layout.configmap_bytes``
  of data (a ConfigMap may hold 1 MiB in all): the last one is patched with each new segment,
  a full one is never written again.
- Each ConfigMap's ``link`` key holds the chain digest of every segment before its first one;
  the status holds the chain digest of them all (``digest``), where the digest after a segment
  is sha256(digest before, its key, its value). So a constant-size status vouches for every
  archived byte, and a ConfigMap that is missing or was edited is found, and named, on resume
  (``journal_records``), which then fails rather than resuming wrong.
- Crash-safe order: a plan's ConfigMap writes (``JournalStatus.writes``) are applied before the
  status write that references them. A segment written to a ConfigMap that the status does not
  count yet (the controller died in between) is ignored on read and written over by the next
  freeze; a ConfigMap the status does not reference yet is replaced whole when it is created
  again. Such leftovers in the last ConfigMap can make it hold up to twice its fill (one
  crashed pass's segments beyond those a later pass wrote over before moving on); a ConfigMap
  the API server refuses (past 1 MiB) ends the run Failed with the server's reason.

A status written before the archive holds its segments in ``journalSegments`` (or every record
in ``journal``); it still reads, and its next write moves the segments to ConfigMaps.
"""

from __future__ import annotations

import base64
import hashlib
import json
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pipetune.controller._parent import STATE_FIELD, ParentError
from pipetune.names import experiment_name

#: The journal's records stay readable in ``STATE_FIELD.journal`` until there are this many
#: more; then they are frozen into one compressed segment.
JOURNAL_SEGMENT = 64
#: Data bytes (keys and values) a ConfigMap of the archive is filled up to. A ConfigMap may hold
#: 1 MiB; a quarter of it leaves room for segments a crashed write left in the last one (module
#: docstring) and keeps small what etcd rewrites at each patch of the last one (its whole object).
CONFIGMAP_BYTES = 256 * 1024
#: The status field that references the archive (in ``STATE_FIELD``).
ARCHIVE_FIELD = "journalArchive"
#: Labels on an archive's ConfigMaps: the parent's kind and name (as a label value).
JOURNAL_KIND_LABEL = "pipetune.dev/journal-kind"
JOURNAL_OF_LABEL = "pipetune.dev/journal-of"
#: The ConfigMap key holding the chain digest of the segments before its own.
LINK_KEY = "link"
#: The most a segment may decompress to: a status is ours, but not every editor of it is.
_SEGMENT_MAX_BYTES = 64 * 2**20
#: A ConfigMap's name is a DNS subdomain: at most 253 characters, with ``-00000`` after the base.
_BASE_MAX = 240


@dataclass(frozen=True)
class Layout:
    """How a journal is frozen: records per segment, and data bytes per ConfigMap."""

    segment: int = JOURNAL_SEGMENT
    configmap_bytes: int = CONFIGMAP_BYTES


#: The layout a controller freezes journals with unless told otherwise.
DEFAULT_LAYOUT = Layout()


@dataclass(frozen=True)
class ConfigMapWrite:
    """One ConfigMap write of a plan: ``create`` a new one holding ``data`` (a ConfigMap of that
    name already there from a crashed write is replaced whole), or add ``data``'s keys to one
    the status already references."""

    name: str
    create: bool
    data: Mapping[str, str]


@dataclass(frozen=True)
class JournalStatus:
    """``journal_status``'s answer: the fields of ``STATE_FIELD`` that hold the journal, and the
    ConfigMap writes that must land before a status holding them is written."""

    fields: dict[str, Any]
    writes: tuple[ConfigMapWrite, ...] = field(default_factory=tuple)


def archive_base(kind: str, name: str) -> str:
    """The name the archive's ConfigMaps of the parent ``kind``/``name`` start with:
    ``<name>-<kind>-journal``, a valid DNS name (with a digest of the original when the name had
    to change, so two parents' archives stay apart)."""
    text = f"{name}-{kind}-journal".lower()
    base = experiment_name(text, fallback="journal", max_length=_BASE_MAX)
    if base != text:
        digest = hashlib.sha256(text.encode()).hexdigest()[:6]
        base = experiment_name(f"{base}-{digest}", max_length=_BASE_MAX)
    return base


def configmap_name(base: str, index: int) -> str:
    """The name of the archive's ``index``-th ConfigMap."""
    return f"{base}-{index:05d}"


def journal_labels(kind: str, name: str) -> dict[str, str]:
    """The labels of an archive's ConfigMaps: whose journal they hold."""
    return {JOURNAL_KIND_LABEL: kind, JOURNAL_OF_LABEL: experiment_name(name, fallback="run", max_length=63)}


def journal_status(records: Sequence[Mapping[str, Any]], previous: Mapping[str, Any] | None, base: str,
                   layout: Layout = DEFAULT_LAYOUT) -> JournalStatus:
    """The journal as the parent keeps it (see the module docstring): ``fields`` for the status
    (``journal``, the records not frozen yet, and ``ARCHIVE_FIELD``, once a segment is frozen)
    and the ConfigMap writes of the segments frozen since ``previous``, to ConfigMaps named
    after ``base`` (``archive_base``).

    ``previous`` is the status (``STATE_FIELD``) this one follows. When ``records`` extend the
    journal it holds (its recent records are where they were), only the segments completed since
    are written; otherwise (a new attempt, a status written before the archive) every segment
    is, from the archive's first ConfigMap on. Per status write the merge patch carries the
    recent records and the reference; per frozen segment one ConfigMap write carries it.
    """
    previous = previous or {}
    archived, count, segments, size, digest = _extends(records, previous)
    lent = _inline_segments(records, previous) if not archived and layout.segment == JOURNAL_SEGMENT else {}
    full = archived + (len(records) - archived) // layout.segment * layout.segment
    writes: dict[str, tuple[bool, dict[str, str]]] = {}
    for start in range(archived, full, layout.segment):
        key = f"{segments:06d}"
        value = lent.get(key) or _encode_segment(records[start:start + layout.segment])
        grows = len(key) + len(value)
        if count == 0 or size + grows > layout.configmap_bytes:
            writes[configmap_name(base, count)] = (True, {LINK_KEY: digest})
            count, size = count + 1, len(LINK_KEY) + len(digest)
        writes.setdefault(configmap_name(base, count - 1), (False, {}))[1][key] = value
        size += grows
        digest = _link(digest, key, value)
        segments += 1
    fields: dict[str, Any] = {"journal": [dict(r) for r in records[full:]]}
    if count:
        fields[ARCHIVE_FIELD] = {"base": base, "configMaps": count, "segments": segments, "records": full,
                                 "bytes": size, "digest": digest}
    return JournalStatus(fields, tuple(ConfigMapWrite(name, create, data) for name, (create, data) in writes.items()))


def archive_names(state: Mapping[str, Any]) -> list[str]:
    """The ConfigMaps a status's journal is archived in, in order (none for a status without an
    archive); a ``ParentError`` for a reference that is not one."""
    reference = state.get(ARCHIVE_FIELD)
    if not reference:
        return []
    base, count = _reference(reference)[:2]
    return [configmap_name(base, index) for index in range(count)]


def journal_records(state: Mapping[str, Any],
                    configmaps: Mapping[str, Mapping[str, str] | None] | None = None) -> list[Mapping[str, Any]]:
    """Every journal record a status holds: the archived ones, read from ``configmaps`` (name ->
    its data, None for one that does not exist; ``archive_names`` says which), then the recent
    ones. A status written before the archive holds its segments in ``journalSegments``, or
    every record in ``journal``. A ``ParentError`` names the ConfigMap that is missing or does
    not hold what the status vouches for, or the segment that does not decode."""
    records: list[Mapping[str, Any]] = []
    if state.get(ARCHIVE_FIELD):
        records.extend(_archived(state[ARCHIVE_FIELD], configmaps))
    segments = state.get("journalSegments") or {}
    for key in sorted(segments):
        records.extend(_decode_segment(f"status.{STATE_FIELD}.journalSegments[{key}]", segments[key]))
    records.extend(state.get("journal") or [])  # checked record by record by ``MemoryJournal``
    return records


# -- the archive ----------------------------------------------------------------------------------


def _link(before: str, key: str, value: str) -> str:
    """The chain digest after segment ``key`` (``value``) of a chain whose digest was ``before``."""
    return hashlib.sha256(f"{before}\n{key}\n{value}".encode()).hexdigest()


def _reference(reference: Any) -> tuple[str, int, int, int, int, str]:
    """(base, ConfigMaps, segments, records, bytes, digest) of an archive reference."""
    where = f"status.{STATE_FIELD}.{ARCHIVE_FIELD}"
    try:
        base, digest = reference["base"], reference["digest"]
        counts = [reference[k] for k in ("configMaps", "segments", "records", "bytes")]
        if not isinstance(base, str) or not base or not isinstance(digest, str) or not all(
                isinstance(c, int) and c >= 0 for c in counts):
            raise TypeError("a field of the wrong type")
    except (KeyError, TypeError) as exc:
        raise ParentError("JournalUnreadable", f"{where}: not a journal archive reference ({exc}): expected "
                          "base, digest, configMaps, segments, records and bytes") from None
    return base, counts[0], counts[1], counts[2], counts[3], digest


def _extends(records: Sequence[Mapping[str, Any]], previous: Mapping[str, Any]) -> tuple[int, int, int, int, str]:
    """(records archived, ConfigMaps, segments, bytes of the last, digest) of ``previous``'s
    archive when ``records`` extend the journal it holds (checked on its recent records, which
    follow the archived ones); else an empty archive's."""
    reference = previous.get(ARCHIVE_FIELD)
    if not reference:
        return 0, 0, 0, 0, ""
    try:
        _, count, segments, archived, size, digest = _reference(reference)
    except ParentError:
        return 0, 0, 0, 0, ""
    tail = previous.get("journal") or []
    if archived + len(tail) > len(records) or list(records[archived:archived + len(tail)]) != tail:
        return 0, 0, 0, 0, ""
    return archived, count, segments, size, digest


def _inline_segments(records: Sequence[Mapping[str, Any]], previous: Mapping[str, Any]) -> Mapping[str, str]:
    """The segments a status written before the archive holds in ``journalSegments``, if
    ``records`` extend its journal (so they need not be encoded again); else none."""
    segments = previous.get("journalSegments") or {}
    tail = previous.get("journal") or []
    start = len(segments) * JOURNAL_SEGMENT
    if not segments or start + len(tail) > len(records) or list(records[start:start + len(tail)]) != tail:
        return {}
    return segments


def _archived(reference: Any, configmaps: Mapping[str, Mapping[str, str] | None] | None) -> list[dict[str, Any]]:
    """The records an archive holds, each ConfigMap checked against the chain (module docstring)."""
    base, count, segments, archived, _, digest = _reference(reference)
    names = [configmap_name(base, index) for index in range(count)]
    what = f"status.{STATE_FIELD}.{ARCHIVE_FIELD}"
    if configmaps is None:
        raise ParentError("JournalUnreadable", f"{what}: the journal's first {archived} records are archived in "
                          f"ConfigMaps {names[0]} to {names[-1]}, which were not read")
    found: list[Mapping[str, str]] = []
    for name in names:
        data = configmaps.get(name)
        if data is None:
            raise ParentError("JournalMissing", f"ConfigMap {name}, which holds journal records of this run "
                              f"({what}), does not exist: it was deleted, and the run can't go on without it")
        found.append(data)
    keys = [_segment_keys(name, data) for name, data in zip(names, found, strict=True)]
    firsts = [numbers[0][0] if numbers else None for numbers in keys]
    chain, number, records = "", 0, []
    for index, name in enumerate(names):
        if found[index].get(LINK_KEY) != chain:
            blame = names[index - 1] if index else name
            raise ParentError("JournalEdited", _edited(blame, f"ConfigMap {name}'s {LINK_KEY!r}"))
        # A segment at or past the next ConfigMap's first, or past the status's count, was
        # written by a write the status never followed (the controller died in between).
        end = firsts[index + 1] if index + 1 < count else segments
        for segment, key in keys[index]:
            if end is not None and segment >= end:
                break
            if segment != number:
                raise ParentError("JournalEdited", _edited(name, what, f"segment {number:06d} is missing"))
            value = found[index][key]
            records.extend(_decode_segment(f"ConfigMap {name} data[{key}]", value))
            chain, number = _link(chain, key, value), number + 1
        if index + 1 < count and firsts[index + 1] != number:
            raise ParentError("JournalEdited", _edited(name, what, "its segments do not follow on"))
    if number != segments or chain != digest:
        raise ParentError("JournalEdited", _edited(names[-1], what))
    if len(records) != archived:
        raise ParentError("JournalEdited", _edited(names[-1], what, f"{len(records)} records, not {archived}"))
    return records


def _segment_keys(name: str, data: Mapping[str, str]) -> list[tuple[int, str]]:
    """The segment keys of an archive ConfigMap's data, by number."""
    keys = [k for k in data if k != LINK_KEY]
    if not all(k.isdigit() for k in keys):
        raise ParentError("JournalEdited", _edited(name, f"status.{STATE_FIELD}.{ARCHIVE_FIELD}",
                                                   "a key that is not a segment number"))
    return sorted((int(k), k) for k in keys)


def _edited(name: str, against: str, detail: str = "") -> str:
    why = f" ({detail})" if detail else ""
    return (f"ConfigMap {name} does not hold the journal records that were written to it{why}: they do not match "
            f"the digest {against} holds; it was edited or replaced, and the run can't resume exactly")


# -- segments -------------------------------------------------------------------------------------


def _encode_segment(records: Sequence[Mapping[str, Any]]) -> str:
    """A segment: its records laid out by field, not by
    record (``{"v": 2, "shapes": [[field, ...], ...], "shape": [index per record], "fields":
    {field: [value per record that has it]}}``), so like values sit together and compress
    together; then zlib and base64. A status written before holds a plain list of records.

    Every field is kept, record times too: segments kept in the status used to leave them out
    (no state reads them), which lost the dashboard its trials' times; in a ConfigMap they cost
    a few bytes a record and nothing of the status."""
    shapes: dict[tuple[str, ...], int] = {}
    order: list[int] = []
    columns: dict[str, list[Any]] = {}
    for record in records:
        shape = tuple(record)
        order.append(shapes.setdefault(shape, len(shapes)))
        for key, value in record.items():
            columns.setdefault(key, []).append(value)
    laid_out = {"v": 2, "shapes": [list(shape) for shape in shapes], "shape": order, "fields": columns}
    text = json.dumps(laid_out, separators=(",", ":"), sort_keys=True)
    return base64.b64encode(zlib.compress(text.encode(), 9)).decode("ascii")


def _records_of(laid_out: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The records of a segment laid out by field (``_encode_segment``)."""
    shapes = [tuple(shape) for shape in laid_out["shapes"]]
    columns = {key: iter(values) for key, values in laid_out["fields"].items()}
    return [{key: next(columns[key]) for key in shapes[index]} for index in laid_out["shape"]]


def _decode_segment(where: str, value: Any) -> list[dict[str, Any]]:
    try:
        inflate = zlib.decompressobj()
        data = inflate.decompress(base64.b64decode(str(value), validate=True), _SEGMENT_MAX_BYTES)
        if inflate.unconsumed_tail:
            raise ValueError(f"decompresses to more than {_SEGMENT_MAX_BYTES} bytes")
        records = json.loads(data)
        if isinstance(records, dict) and records.get("v") == 2:
            records = _records_of(records)
    except (ValueError, zlib.error, KeyError, TypeError, IndexError, StopIteration) as exc:
        raise ParentError("JournalUnreadable", f"{where}: not a journal segment: {exc}") from None
    if not isinstance(records, list) or not all(isinstance(r, Mapping) and "op" in r for r in records):
        raise ParentError("JournalUnreadable", f"{where}: not a list of journal records")
    return records
