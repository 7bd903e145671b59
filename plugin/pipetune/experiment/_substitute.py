"""Katib's trial placeholders, substituted on the parsed tree. Pure: no I/O, no YAML.

A trial template holds ``${trialParameters.<name>}`` placeholders. Katib replaces them in the
template's serialised text and parses the result again, so every value turns into a string
and a value holding YAML or JSON syntax can change the structure. Here the parsed tree is
walked instead:

* a string that is exactly one placeholder becomes the value itself, typed (``0.01`` stays a
  float, ``5`` an int, ``"adam"`` a string);
* a placeholder inside a longer string is formatted in (:func:`format_value`: ints as ints,
  floats in their shortest round-trip form, ``0.1`` and not ``0.10000000000000001``);
* nothing is parsed again, so ``"a: b\\n- c"`` is a string with a newline in it, never a
  mapping and a list.

A trialParameter's ``reference`` names a search-space parameter or, in Katib's meta form, the
trial's own metadata: ``${trialSpec.Name}``, ``${trialSpec.Namespace}``, ``${trialSpec.Kind}``,
``${trialSpec.APIVersion}``, ``${trialSpec.Labels[key]}``, ``${trialSpec.Annotations[key]}``
(:class:`MetaReference`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pipetune.components import format_value, plain_value
from pipetune.errors import SpecError

#: One placeholder, as Katib writes it (``consts.TrialTemplateParamReplaceFormat``).
PLACEHOLDER = re.compile(r"\$\{trialParameters\.([^{}]+?)\}")
#: Katib's meta reference form (``consts.TrialTemplateMetaReplaceFormatRegex``), whole string.
_META = re.compile(r"^\$\{trialSpec\.(.+?)\}$")
_META_INDEXED = re.compile(r"^(.+)\[(.+)\]$")
#: Forms that look like a placeholder but are never substituted: refused with a hint.
_META_ANYWHERE = re.compile(r"\$\{trialSpec\.[^{}]*\}")
_PAREN_FORM = re.compile(r"\$\(trialParameters\.([^()]*)\)")

#: The meta keys Katib accepts in a reference (``consts.TrialTemplateMetaKeys``).
META_KEYS = ("Name", "Namespace", "Kind", "APIVersion")
META_MAPS = ("Labels", "Annotations")


def placeholder(name: str) -> str:
    """The placeholder text for trialParameter ``name``."""
    return "${trialParameters." + name + "}"


def substitute(tree: Any, values: Mapping[str, Any], source: str, where: str = "") -> Any:
    """A copy of ``tree`` with every ``${trialParameters.<name>}`` replaced from ``values``.

    ``source`` and ``where`` (the tree's own path, e.g. ``spec.trialTemplate.trialSpec``) name
    the place in an error. A placeholder whose name is not in ``values`` raises ``SpecError``
    listing the known ones. Mapping keys are substituted as text.
    """
    if isinstance(tree, Mapping):
        out: dict[Any, Any] = {}
        for key, item in tree.items():
            inner = _child(where, key)
            if isinstance(key, str):
                key = _substitute_text(key, values, source, inner)
                key = key if isinstance(key, str) else format_value(key)
            out[key] = substitute(item, values, source, inner)
        return out
    if isinstance(tree, (list, tuple)):
        return [substitute(item, values, source, f"{where}[{i}]") for i, item in enumerate(tree)]
    if isinstance(tree, str):
        return _substitute_text(tree, values, source, where)
    return tree


def _substitute_text(text: str, values: Mapping[str, Any], source: str, where: str) -> Any:
    whole = PLACEHOLDER.fullmatch(text)
    if whole:
        return plain_value(_lookup(whole.group(1), values, source, where))
    if "${trialParameters." not in text:
        return text
    return PLACEHOLDER.sub(
        lambda match: format_value(_lookup(match.group(1), values, source, where)), text
    )


def _lookup(name: str, values: Mapping[str, Any], source: str, where: str) -> Any:
    if name in values:
        return values[name]
    raise SpecError(
        f"{source}: {where or 'the template'}: unknown placeholder {placeholder(name)}; "
        f"known: {_listing(values)}"
    )


def find_placeholders(tree: Any, where: str = "") -> Iterator[tuple[str, str]]:
    """Every ``(where, name)`` of a ``${trialParameters.<name>}`` in ``tree``, keys included."""
    if isinstance(tree, Mapping):
        for key, item in tree.items():
            inner = _child(where, key)
            if isinstance(key, str):
                for match in PLACEHOLDER.finditer(key):
                    yield inner, match.group(1)
            yield from find_placeholders(item, inner)
    elif isinstance(tree, (list, tuple)):
        for i, item in enumerate(tree):
            yield from find_placeholders(item, f"{where}[{i}]")
    elif isinstance(tree, str):
        for match in PLACEHOLDER.finditer(tree):
            yield where, match.group(1)


def check_placeholders(tree: Any, known: Mapping[str, Any], source: str, where: str) -> set[str]:
    """Validate a template's placeholders against the trialParameter names in ``known``.

    Raises ``SpecError`` for a placeholder with no trialParameter (listing the known ones),
    for Katib's meta form used directly in the template (``${trialSpec.Name}`` is only valid
    as a trialParameter's reference), and for Tekton's ``$(trialParameters.x)`` spelling,
    which Katib never substitutes. Returns the names used.
    """
    used: set[str] = set()
    for path, name in find_placeholders(tree, where):
        if name not in known:
            raise SpecError(
                f"{source}: {path}: placeholder {placeholder(name)} has no trialParameter; "
                f"known: {_listing(known)}"
            )
        used.add(name)
    for path, text in _strings(tree, where):
        meta = _META_ANYWHERE.search(text)
        if meta:
            raise SpecError(
                f"{source}: {path}: {meta.group(0)} is never substituted in the template; declare "
                f"a trialParameter with reference {meta.group(0)} and use "
                "${trialParameters.<its name>}"
            )
        paren = _PAREN_FORM.search(text)
        if paren:
            raise SpecError(
                f"{source}: {path}: {paren.group(0)} is never substituted; Katib's form is "
                f"{placeholder(paren.group(1))}"
            )
    return used


def _strings(tree: Any, where: str) -> Iterator[tuple[str, str]]:
    if isinstance(tree, Mapping):
        for key, item in tree.items():
            inner = _child(where, key)
            if isinstance(key, str):
                yield inner, key
            yield from _strings(item, inner)
    elif isinstance(tree, (list, tuple)):
        for i, item in enumerate(tree):
            yield from _strings(item, f"{where}[{i}]")
    elif isinstance(tree, str):
        yield where, tree


@dataclass(frozen=True)
class MetaReference:
    """A reference to the trial's metadata: ``key`` is one of :data:`META_KEYS` or
    :data:`META_MAPS`; ``index`` is the label or annotation name for the latter."""

    key: str
    index: str | None = None

    @classmethod
    def parse(cls, reference: str) -> MetaReference | None:
        """The meta reference in ``reference``, None when it is not of the ``${trialSpec.…}``
        form (a parameter name); ``ValueError`` naming the valid forms for a bad one."""
        match = _META.match(reference)
        if match is None:
            return None
        key = match.group(1)
        if key in META_KEYS:
            return cls(key)
        indexed = _META_INDEXED.match(key)
        if indexed and indexed.group(1) in META_MAPS:
            return cls(indexed.group(1), indexed.group(2))
        forms = ", ".join(
            [*(f"${{trialSpec.{k}}}" for k in META_KEYS), *(f"${{trialSpec.{k}[key]}}" for k in META_MAPS)]
        )
        raise ValueError(f"{reference!r} is not a trial metadata reference; expected one of {forms}")

    @property
    def text(self) -> str:
        inner = self.key if self.index is None else f"{self.key}[{self.index}]"
        return "${trialSpec." + inner + "}"

    def resolve(self, template: Mapping[str, Any], trial_name: str, namespace: str) -> str:
        """The value for one trial. ``template`` is the trial template as written (Katib reads
        labels and annotations from it before substitution); ``KeyError`` when a label or
        annotation is missing."""
        if self.key == "Name":
            return trial_name
        if self.key == "Namespace":
            return namespace
        if self.key == "Kind":
            return str(template.get("kind", ""))
        if self.key == "APIVersion":
            return str(template.get("apiVersion", ""))
        metadata = template.get("metadata") or {}
        entries = metadata.get(self.key.lower()) or {}
        if self.index not in entries:
            raise KeyError(self.index)
        return format_value(entries[self.index])


def _child(where: str, key: Any) -> str:
    return f"{where}.{key}" if where else str(key)


def _listing(names: Mapping[str, Any] | Any) -> str:
    names = sorted(names)
    return ", ".join(placeholder(name) for name in names) if names else "none (no trialParameters)"
