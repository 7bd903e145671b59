"""YAML in and out, safely: PyYAML's safe loader only, under the bounds of
:mod:`pipetune.limits`, and errors that name the file and line.

A file is read only when it is a regular file (a FIFO, a device or a socket is refused before
it is opened; the file is opened non-blocking and checked again with ``fstat``), and at most
``max_bytes`` of it are read. Its YAML is composed by a :class:`yaml.SafeLoader` subclass that
counts as it goes: nodes (an alias counted as the nodes it stands for, so an alias bomb is
refused as soon as it expands past the budget; a recursive alias is refused), aliases,
nesting depth, and the length of integer literals. Whatever the input, the caller's
``error`` is raised naming the file, never a traceback; valid input loads exactly as
``yaml.safe_load`` loads it (and ``yaml.safe_load_all`` for several documents).
"""

from __future__ import annotations

import io
import os
import re
import stat
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from pipetune.errors import SpecError
from pipetune.limits import RESULTS_LIMITS, SPEC_LIMITS, YamlLimits

__all__ = [
    "RESULTS_LIMITS",
    "SPEC_LIMITS",
    "YamlLimits",
    "dump_yaml",
    "load_yaml_documents",
    "load_yaml_file",
    "load_yaml_text",
    "read_text_file",
    "within_limits",
]

_CHUNK = 64 * 1024
_KINDS = (
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def read_text_file(
    path: str | os.PathLike[str],
    error: type[Exception] = SpecError,
    limits: YamlLimits = SPEC_LIMITS,
    within: str | os.PathLike[str] | None = None,
) -> str:
    """The text of ``path`` (UTF-8, newlines as ``Path.read_text`` gives them), read only when
    it is a regular file of at most ``limits.max_bytes``; ``within``: a folder the file must
    really be in (a symbolic link leading outside it is refused). ``error`` names the file."""
    file = Path(path)
    try:
        real = _check_place(file, within, error)
        info = os.stat(file)  # before opening: opening a device or a FIFO can itself block
        _check_kind(file, real, info, error)
        _check_size(file, info.st_size, limits, error)
        fd = os.open(file, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        try:
            info = os.fstat(fd)  # what was opened, if the path changed in between
            _check_kind(file, real, info, error)
            _check_size(file, info.st_size, limits, error)
            data = _read_at_most(fd, limits.max_bytes + 1)
        finally:
            os.close(fd)
    except FileNotFoundError:
        raise error(f"{file}: file not found") from None
    except IsADirectoryError:
        raise error(f"{file}: is a directory, expected a YAML file") from None
    except OSError as exc:
        raise error(f"{file}: cannot be read: {exc}") from None
    if len(data) > limits.max_bytes:
        raise error(f"{file}: more than {_size_limit(limits)}")  # it grew while being read
    try:
        return io.TextIOWrapper(io.BytesIO(data), encoding="utf-8").read()
    except UnicodeDecodeError as exc:
        raise error(f"{file}: cannot be read: {exc}") from None


def load_yaml_file(
    path: str | os.PathLike[str],
    error: type[Exception] = SpecError,
    first: bool = False,
    limits: YamlLimits = SPEC_LIMITS,
    within: str | os.PathLike[str] | None = None,
) -> Any:
    """Parse one YAML document from ``path``; raise ``error`` naming the file on any problem.
    ``first``: the file may hold several documents (a compiled KFP pipeline with platform
    settings after it); the first is returned. ``limits`` and ``within``: as
    :func:`read_text_file`."""
    file = Path(path)
    text = read_text_file(file, error, limits, within)
    return load_yaml_text(text, str(file), error, first, limits)


def load_yaml_text(
    text: str,
    source: str,
    error: type[Exception] = SpecError,
    first: bool = False,
    limits: YamlLimits = SPEC_LIMITS,
) -> Any:
    """Parse YAML text; ``source`` names where it came from in the error message."""
    _check_text_size(text, source, limits, error)
    if first:
        documents = _documents(text, source, error, limits)
        try:
            return next(documents, None)
        finally:
            documents.close()
    loader = _BoundedLoader(text, limits)
    try:
        with _reported(source, error):
            return loader.get_single_data()
    finally:
        loader.dispose()


def load_yaml_documents(
    path: Path, error: type[Exception] = SpecError, limits: YamlLimits = SPEC_LIMITS
) -> list[Any]:
    """Every YAML document in ``path`` (empty ones left out); ``error`` naming the file."""
    text = read_text_file(path, error, limits)
    return [d for d in _documents(text, str(path), error, limits) if d is not None]


def within_limits(data: Any, text: str, source: str, error: type[Exception], limits: YamlLimits) -> None:
    """Raise ``error`` when ``text``, the YAML of plain ``data``, would be refused on reading
    under ``limits`` (its bytes, its nodes, its depth): check before writing it."""
    _check_text_size(text, source, limits, error)
    nodes, deepest = 0, 0
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        nodes += 1
        if isinstance(value, dict):
            stack.extend((k, depth + 1) for k in value)
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, (list, tuple)):
            stack.extend((v, depth + 1) for v in value)
        else:
            continue
        deepest = max(deepest, depth)
        if nodes > limits.max_nodes:
            raise error(f"{source}: more than {_node_limit(limits)}")
    if nodes > limits.max_nodes:
        raise error(f"{source}: more than {_node_limit(limits)}")
    if deepest > limits.max_depth:
        raise error(f"{source}: collections nested deeper than {limits.max_depth} levels")


def dump_yaml(data: Any) -> str:
    """Serialise plain data as block-style YAML, keys in insertion order.

    Through libyaml's emitter (``yaml.CSafeDumper``, about 5x faster: a trial's results.yaml
    is written per trial) when PyYAML has it and ``data`` is of the simple kind on which the
    two emitters give the same text, byte for byte (tested): numbers, booleans, None, and
    strings of up to 64 letters, digits and ``_./:@+=,-`` or spaces, in dicts and lists. Any
    other data goes through PyYAML's own emitter, as before (the two differ on long, empty
    or unusual strings: line folding, quoting, escapes)."""
    dumper = _FAST_DUMPER if _FAST_DUMPER is not None and _emits_alike(data) else yaml.SafeDumper
    return yaml.dump(data, Dumper=dumper, sort_keys=False, default_flow_style=False, allow_unicode=True)


#: libyaml's safe dumper, when PyYAML was built with it.
_FAST_DUMPER: type[yaml.SafeDumper] | None = getattr(yaml, "CSafeDumper", None)
_ALIKE_TEXT = re.compile(r"[A-Za-z0-9_./:@+=, -]{1,64}")
_ALIKE_SCALARS = (int, float, bool, type(None))


def _emits_alike(data: Any) -> bool:
    """Whether ``data`` is of the kind both emitters write alike (``dump_yaml``)."""
    stack = [data]
    while stack:
        value = stack.pop()
        kind = type(value)
        if kind in _ALIKE_SCALARS:
            continue
        if kind is str:
            if _ALIKE_TEXT.fullmatch(value) is None:
                return False
        elif kind is dict:
            for key, item in value.items():
                if type(key) is not str or _ALIKE_TEXT.fullmatch(key) is None:
                    return False
                stack.append(item)
        elif kind is list:
            stack.extend(value)
        else:
            return False
    return True


# -- reading the file ----------------------------------------------------------------------------


def _check_place(file: Path, within: str | os.PathLike[str] | None, error: type[Exception]) -> str:
    real = os.path.realpath(file)
    if within is not None:
        folder = os.path.realpath(within)
        if os.path.commonpath([folder, real]) != folder:
            raise error(f"{file}: is a link to {real}, outside {within}; expected a file in that folder")
    return real


def _check_kind(file: Path, real: str, info: os.stat_result, error: type[Exception]) -> None:
    if stat.S_ISDIR(info.st_mode):
        raise IsADirectoryError(file)
    if stat.S_ISREG(info.st_mode):
        return
    kind = next((name for test, name in _KINDS if test(info.st_mode)), "not a regular file")
    shown = f"{file} (a link to {real})" if real != os.path.abspath(file) else str(file)
    raise error(f"{shown}: is {kind}, expected a regular YAML file")


def _check_size(file: Path | str, size: int, limits: YamlLimits, error: type[Exception]) -> None:
    if size > limits.max_bytes:
        raise error(f"{file}: {size} bytes; {_size_limit(limits)}")


def _check_text_size(text: str, source: str, limits: YamlLimits, error: type[Exception]) -> None:
    # A str holds at most 4 bytes of UTF-8 per character: only long ones need encoding.
    if len(text) * 4 > limits.max_bytes:
        _check_size(source, len(text.encode("utf-8", "surrogatepass")), limits, error)


def _size_limit(limits: YamlLimits) -> str:
    hint = f" ({limits.hint})" if limits.hint else ""
    return f"at most {limits.max_bytes} for {limits.what}{hint}"


def _node_limit(limits: YamlLimits) -> str:
    hint = f" ({limits.hint})" if limits.hint else ""
    return f"{limits.max_nodes} YAML nodes (keys, values, collections), the most {limits.what} may hold{hint}"


def _read_at_most(fd: int, count: int) -> bytes:
    chunks = []
    left = count
    while left > 0:
        chunk = os.read(fd, min(_CHUNK, left))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


# -- parsing -------------------------------------------------------------------------------------


class _LimitError(yaml.YAMLError):
    """A document past one of the limits; ``mark`` says where."""

    def __init__(self, problem: str, mark: Any) -> None:
        super().__init__(problem)
        self.problem = problem
        self.mark = mark


class _BoundedLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` counting what it composes against ``limits``."""

    def __init__(self, stream: str, limits: YamlLimits) -> None:
        super().__init__(stream)
        self.limits = limits
        self.depth = 0
        self.aliases = 0
        #: Nodes of the file so far, each alias counted as the nodes it stands for.
        self.nodes = 0
        #: Expanded size (nodes) of each collection of the current document once composed;
        #: an anchored collection missing here is one still being composed.
        self.sizes: dict[int, int] = {}

    def compose_document(self) -> Any:
        self.sizes = {}
        return super().compose_document()

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            node = super().compose_node(parent, index)
            if node is not None:
                self._count_alias(node, event)
            return node
        self.depth += 1
        try:
            if self.depth > self.limits.max_depth and not self.check_event(yaml.ScalarEvent):
                raise _LimitError(f"collections nested deeper than {self.limits.max_depth} levels", self.peek_event().start_mark)
            node = super().compose_node(parent, index)
        finally:
            self.depth -= 1
        self.nodes += 1
        if self.nodes > self.limits.max_nodes:
            mark = node.start_mark if node is not None else None
            raise _LimitError(f"more than {_node_limit(self.limits)}", mark)
        if isinstance(node, SequenceNode):
            self.sizes[id(node)] = 1 + sum(self._size(child) for child in node.value)
        elif isinstance(node, MappingNode):
            self.sizes[id(node)] = 1 + sum(self._size(k) + self._size(v) for k, v in node.value)
        return node

    def _size(self, node: Node) -> int:
        return 1 if isinstance(node, ScalarNode) else self.sizes[id(node)]

    def _count_alias(self, node: Node, event: Any) -> None:
        self.aliases += 1
        if self.aliases > self.limits.max_aliases:
            raise _LimitError(f"more than {self.limits.max_aliases} aliases", event.start_mark)
        if not isinstance(node, ScalarNode) and id(node) not in self.sizes:
            raise _LimitError(f"alias *{event.anchor} refers to a collection that contains it", event.start_mark)
        self.nodes += self._size(node)
        if self.nodes > self.limits.max_nodes:
            raise _LimitError(f"aliases expand to more than {_node_limit(self.limits)}", event.start_mark)

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError) as exc:
            # A scalar the resolver took for a timestamp or a number that is none (2001-13-45).
            raise ConstructorError(None, None, f"{exc}", node.start_mark) from None
        except (AttributeError, KeyError, IndexError, TypeError):
            # What PyYAML's constructors raise for an explicit tag on a value it does not fit
            # (!!timestamp foo, !!bool maybe).
            if not isinstance(node, ScalarNode):
                raise
            shown = repr(node.value) if len(repr(node.value)) <= 60 else repr(node.value)[:57] + "..."
            kind = str(node.tag).rsplit(":", 1)[-1]
            raise ConstructorError(None, None, f"{shown} is not a valid {kind}", node.start_mark) from None

    def construct_bounded_int(self, node: Node) -> int:
        if not isinstance(node, ScalarNode):  # what PyYAML's construct_scalar says
            found = getattr(node, "id", "node")
            raise ConstructorError(None, None, f"expected a scalar node, but found {found}", node.start_mark)
        size = len(node.value)
        if size > self.limits.max_int_chars:
            raise _LimitError(
                f"an integer of {size} characters; at most {self.limits.max_int_chars}", node.start_mark
            )
        return int(self.construct_yaml_int(node))


_BoundedLoader.add_constructor("tag:yaml.org,2002:int", _BoundedLoader.construct_bounded_int)


def _documents(
    text: str, source: str, error: type[Exception], limits: YamlLimits
) -> Generator[Any, None, None]:
    """The documents of ``text`` one by one, as ``yaml.safe_load_all`` yields them."""
    loader = _BoundedLoader(text, limits)
    try:
        with _reported(source, error):
            while loader.check_data():
                yield loader.get_data()
    finally:
        loader.dispose()


@contextmanager
def _reported(source: str, error: type[Exception]) -> Iterator[None]:
    """Turn what PyYAML raises into ``error`` naming ``source``."""
    try:
        yield
    except _LimitError as exc:
        where = f"at line {exc.mark.line + 1}, column {exc.mark.column + 1}: " if exc.mark else ""
        raise error(f"{source}: {where}{exc.problem}") from None
    except yaml.YAMLError as exc:
        raise _malformed(exc, source, error) from None


def _malformed(exc: yaml.YAMLError, source: str, error: type[Exception]) -> Exception:
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return error(f"{source}: malformed YAML{where}: {problem}")
