"""hyperopt behind the ``Algorithm`` interface: ``random``, ``tpe`` and ``anneal``.

Every call rebuilds hyperopt's view of the experiment from the history, with three small
functions, so no hyperopt state survives between calls and a restarted process suggests
exactly what the old one would have:

- :func:`to_hyperopt_docs`: the history as hyperopt trial documents. Finished trials carry
  their loss; pending and running ones go in without a loss (TPE scores them as infinitely bad,
  so the next suggestion moves away from them); failed ones go in as failed, without a loss.
- :func:`ask`: one call of a hyperopt ``suggest`` function on a ``Trials`` built from them.
- :func:`from_hyperopt_vals`: hyperopt's raw values back into a typed assignment.

The search space is translated with Katib's semantics (``pkg/suggestion/v1beta1/hyperopt/
base_service.py`` in kubeflow/katib), except where noted at :func:`_codec`.

This package is the only place that imports hyperopt, and only when an algorithm is used.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import math
import operator
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import hyperopt
import numpy as np
from hyperopt import anneal, hp, rand, space_eval, tpe
from hyperopt.algobase import SuggestAlgo

from pipetune.errors import SpaceError
from pipetune.tuner.algorithms import _settings
from pipetune.tuner.algorithms._base import Algorithm, Exhausted, Suggestion
from pipetune.tuner.algorithms._constraints import Penalty
from pipetune.tuner.history import TrialRecord, TrialStatus
from pipetune.tuner.space import (
    CategoricalParameter,
    DiscreteParameter,
    DoubleParameter,
    ExpressionSpace,
    IntParameter,
    Parameter,
    SearchSpace,
)

#: Draws from the algorithm itself, then from the prior, before a finite space is enumerated
#: to find a point that no unfinished trial holds.
_MODEL_DRAWS = 8
_RANDOM_DRAWS = 32
#: A finite space up to this many points is enumerated when draws keep hitting taken points.
_ENUMERATE_LIMIT = 200_000

#: hyperopt's raw values of one point: each label's list of no value (an inactive branch of
#: an expression space) or one.
Vals = dict[str, list[Any]]
#: A hyperopt trial document, in hyperopt's own (untyped) form.
Doc = dict[str, Any]
#: ``_key`` of some vals: hashable, and the same for the same values.
ValsKey = tuple[tuple[str, tuple[Any, ...]], ...]
#: An assignment as a key of ``Plan.vals_cache``: each value with its type.
AssignmentKey = tuple[tuple[str, type, Any], ...]


# -- translation of a space ---------------------------------------------------------------


@dataclass(frozen=True)
class _Codec:
    """One searched parameter: its hyperopt node and the two directions of its value."""

    name: str
    node: Any
    to_val: Callable[[Any], float | int]
    from_val: Callable[[float], Any]
    size: int | None = None  # how many values it can take; None when continuous
    nth: Callable[[int], float] | None = None  # the raw value of the k-th, when finite

    def val_at(self, k: int) -> float | int:
        """hyperopt's value for the ``k``-th of a finite parameter's values."""
        if self.nth is None:
            raise ValueError(f"parameter {self.name!r} is continuous: it has no k-th value")
        return self.to_val(self.from_val(self.nth(k)))


@dataclass
class AnnealingView:
    """What hyperopt's ``AnnealingAlgo`` derives from the trials at its start, for a list of
    documents: each one's loss by trial id (infinite without one) and, for each label, the ids
    and values of the trials that have it (``miscs_to_idxs_vals``)."""

    docs: list[Doc] = field(default_factory=list)
    losses: dict[int, float] = field(default_factory=dict)
    tids: dict[str, list[int]] = field(default_factory=dict)
    vals: dict[str, list[Any]] = field(default_factory=dict)

    def add(self, domain: Any, doc: Doc) -> None:
        """Extend the view with ``doc``, as ``AnnealingAlgo.__init__`` reads it."""
        loss = domain.loss(doc["result"], doc["spec"])
        self.losses[doc["tid"]] = float("inf" if loss is None else loss)
        misc = doc["misc"]
        for label, tids in self.tids.items():
            tids.extend(misc["idxs"][label])
            self.vals[label].extend(misc["vals"][label])
        self.docs.append(doc)

    def copy(self) -> AnnealingView:
        return AnnealingView(list(self.docs), dict(self.losses), {k: list(v) for k, v in self.tids.items()},
                             {k: list(v) for k, v in self.vals.items()})


@dataclass(frozen=True)
class Plan:
    """A space made ready for hyperopt: its expression, its ``Domain`` and value codecs.

    Built once per space and cached; holds nothing about trials.
    """

    space: SearchSpace | ExpressionSpace
    domain: Any
    codecs: tuple[_Codec, ...]
    constants: Mapping[str, Any]
    #: Each assignment's hyperopt values (None: outside the space), by the assignment's items.
    vals_cache: dict[AssignmentKey, Vals | None] = field(default_factory=dict, compare=False, repr=False)
    #: Settled records' documents (None: outside the space), with the record and its trial
    #: id, by the record's id; see ``to_hyperopt_docs``.
    doc_cache: dict[int, tuple[TrialRecord, int, Doc | None]] = field(
        default_factory=dict, compare=False, repr=False
    )
    #: Those documents' keys (``_doc_key``), by the document's id.
    key_cache: dict[int, tuple[Doc, ValsKey]] = field(default_factory=dict, compare=False, repr=False)
    #: The leading finished records of the last history seen and their documents.
    docs_cache: list[tuple[list[TrialRecord], list[Doc]]] = field(
        default_factory=lambda: [([], [])], compare=False, repr=False
    )
    #: The leading finished documents of the last history seen and their keys (``tried_keys``).
    tried_cache: list[tuple[list[Doc], set[ValsKey]]] = field(
        default_factory=lambda: [([], set())], compare=False, repr=False
    )
    #: The leading finished documents of the last history seen as annealing reads them
    #: (``annealing_view``).
    anneal_cache: list[AnnealingView] = field(default_factory=lambda: [AnnealingView()], compare=False, repr=False)
    lock: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)

    @property
    def labels(self) -> list[str]:
        return list(self.domain.params)

    @property
    def size(self) -> int | None:
        """How many distinct assignments there are, when that is finite and known."""
        if isinstance(self.space, ExpressionSpace):
            return None
        sizes = [c.size for c in self.codecs if c.size is not None]
        if len(sizes) < len(self.codecs):
            return None
        return math.prod(sizes)

    def points(self) -> Iterator[Vals]:
        """Every point of a finite space as hyperopt vals, in a fixed order."""
        ranges = []
        for c in self.codecs:
            if c.size is None:
                raise ValueError(f"parameter {c.name!r} is continuous: the space has no list of points")
            ranges.append(range(c.size))
        for combo in itertools.product(*ranges):
            yield {c.name: [c.val_at(k)] for c, k in zip(self.codecs, combo)}


def plan_for(space: Any) -> Plan:
    """The hyperopt translation of ``space`` (cached: a space is immutable)."""
    if isinstance(space, SearchSpace):
        return _plan_search_space(space)
    if isinstance(space, ExpressionSpace):
        return _plan_expression(space)
    raise SpaceError(
        f"expected a SearchSpace or an ExpressionSpace, got {type(space).__name__}"
    )


@functools.lru_cache(maxsize=64)
def _plan_search_space(space: SearchSpace) -> Plan:

    codecs: list[_Codec] = []
    constants: dict[str, Any] = {}
    for parameter in space.parameters:
        if parameter.fixed:
            constants[parameter.name] = _constant(parameter)
        else:
            codecs.append(_codec(parameter))
    expression = {codec.name: codec.node for codec in codecs}
    domain = hyperopt.Domain(None, expression, pass_expr_memo_ctrl=False)
    return Plan(space, domain, tuple(codecs), constants)


@functools.lru_cache(maxsize=64)
def _plan_expression(space: ExpressionSpace) -> Plan:

    try:
        domain = hyperopt.Domain(None, space.expression, pass_expr_memo_ctrl=False)
    except Exception as exc:  # hyperopt raises its own types and plain ones alike
        raise SpaceError(f"not a hyperopt search space: {type(exc).__name__}: {exc}") from exc
    if not domain.params:
        raise SpaceError("the hyperopt expression has no hp.* parameter; nothing to search")
    return Plan(space, domain, (), {})


def _constant(parameter: Parameter) -> Any:
    if isinstance(parameter, (DiscreteParameter, CategoricalParameter)):
        return parameter.values[0]
    value = _range(parameter).min
    return int(value) if isinstance(parameter, IntParameter) else float(value)


def _range(parameter: Parameter) -> DoubleParameter | IntParameter:
    """``parameter`` as the double or int parameter that it is when it is not a list of values."""
    if not isinstance(parameter, (DoubleParameter, IntParameter)):
        raise SpaceError(f"parameter {parameter.name!r}: unknown parameter type {type(parameter).__name__}")
    return parameter


def _codec(parameter: Parameter) -> _Codec:
    """Katib's translation of one parameter (base_service.py, ``create_hyperopt_domain``):

    - double uniform: ``hp.uniform(min, max)``; logUniform: ``hp.loguniform(log min, log max)``
      (``hp.qloguniform`` with a step);
    - normal: ``hp.normal(mu, sigma)`` with mu the middle of [min, max] and sigma a sixth of
      its width (so 99.7% of draws fall inside); logNormal: the same on log(min)..log(max), as
      ``hp.lognormal``; with a step, their ``q`` forms;
    - int: integer values (``hp.uniformint`` in Katib; here a ``q`` form with q = step or 1);
    - discrete / categorical: ``hp.choice`` over the list; hyperopt's value is the index.

    Where pipetune differs: every value is clipped to [min, max] (Katib leaves normal and
    logNormal draws, and rounding at the ends, outside the feasible space), an int is rounded
    rather than truncated, and a step means the grid min, min+step, ... (Katib's ``q`` forms
    give multiples of step, which miss that grid when min is not one): uniform and normal
    search the offset from min, so each grid point is one ``q`` value, and the log forms,
    whose ``q`` applies after exp, are snapped to the nearest grid point.
    """

    name = parameter.name
    if isinstance(parameter, (DiscreteParameter, CategoricalParameter)):
        values = list(parameter.values)
        return _Codec(
            name,
            hp.choice(name, values),
            to_val=values.index,
            from_val=lambda val: values[int(val)],
            size=len(values),
            nth=lambda k: k,
        )

    numeric = _range(parameter)
    low = float(numeric.min)
    high = float(numeric.max)
    is_int = isinstance(numeric, IntParameter)
    step = float(numeric.step) if numeric.step is not None else (1.0 if is_int else None)
    distribution = numeric.distribution
    typed = int if is_int else float

    if step is None:
        if distribution == "uniform":
            node = hp.uniform(name, low, high)
        elif distribution == "logUniform":
            node = hp.loguniform(name, math.log(low), math.log(high))
        elif distribution == "normal":
            node = hp.normal(name, (low + high) / 2, (high - low) / 6)
        else:  # logNormal
            log_low, log_high = math.log(low), math.log(high)
            node = hp.lognormal(name, (log_low + log_high) / 2, (log_high - log_low) / 6)
        return _Codec(name, node, to_val=float, from_val=lambda val: min(max(float(val), low), high))

    count = math.floor((high - low) / step + 1e-9) + 1
    last = count - 1

    def at(k: float) -> Any:
        k = min(max(round(k), 0), last)
        return typed(min(low + k * step, high)) if not is_int else int(low) + k * int(step)

    if distribution in ("uniform", "normal"):
        # The offset from min, a multiple of step: one q value per grid point.
        if distribution == "uniform":
            # Half a step beyond each end, so the two end points are as likely as the others.
            node = hp.quniform(name, -step / 2, last * step + step / 2, step)
        else:
            node = hp.qnormal(name, (high - low) / 2, (high - low) / 6, step)
        return _Codec(
            name,
            node,
            to_val=lambda value: round((float(value) - low) / step) * step,
            from_val=lambda val: at(float(val) / step),
            size=count,
            nth=lambda k: k * step,
        )

    log_low, log_high = math.log(low), math.log(high)
    if distribution == "logUniform":
        node = hp.qloguniform(name, log_low, log_high, step)
    else:
        node = hp.qlognormal(name, (log_low + log_high) / 2, (log_high - log_low) / 6, step)
    return _Codec(
        name,
        node,
        to_val=lambda value: float(at((float(value) - low) / step)),
        from_val=lambda val: at((float(val) - low) / step),
        size=count,
        nth=lambda k: low + k * step,
    )


# -- the three functions ------------------------------------------------------------------


def to_hyperopt_docs(plan: Plan, history: Sequence[TrialRecord]) -> list[Doc]:
    """The history as hyperopt trial documents, one per trial whose values fit the space.

    A trial whose assignment is outside the space (a space changed between runs) or, for an
    expression space, that has no ``internal`` values, can't be placed and is left out.
    """

    with plan.lock:
        kept_records, kept_docs = plan.docs_cache[0]
    if len(kept_records) > len(history) or not all(map(operator.is_, kept_records, history)):
        kept_records, kept_docs = [], []
    # The leading finished records are the same objects as last time (the tuner keeps them):
    # their documents are taken whole, and only the records after them are looked at.
    start = len(kept_records)
    docs: list[Doc] = list(kept_docs)
    lead = start
    for tid in range(start, len(history)):
        record = history[tid]
        cached = plan.doc_cache.get(id(record))
        if cached is not None and cached[0] is record and cached[1] == tid:
            # The tuner hands the same record object for a trial that did not change, so its
            # document is reused rather than rebuilt for every suggestion.
            if cached[2] is not None:
                docs.append(cached[2])
        else:
            vals = _vals_of(plan, record)
            doc = None if vals is None else _document(plan, tid, record, vals, hyperopt)
            if record.status.final:
                # Only settled records: a pending one is made anew for each suggestion anyway.
                # The record is kept in the entry, so its id can't be reused while cached.
                plan.doc_cache[id(record)] = (record, tid, doc)
            if doc is not None:
                docs.append(doc)
        if lead == tid and record.status.final:
            lead, lead_docs = tid + 1, len(docs)
    if lead > start:
        with plan.lock:
            plan.docs_cache[0] = ([*kept_records, *history[start:lead]], docs[:lead_docs])
    return docs


def _document(plan: Plan, tid: int, record: TrialRecord, vals: Vals, hyperopt: Any) -> Doc:
    if record.loss is not None:
        state, result = hyperopt.JOB_STATE_DONE, {"status": hyperopt.STATUS_OK, "loss": float(record.loss)}
    elif not record.status.final:
        running = record.status is TrialStatus.RUNNING
        state = hyperopt.JOB_STATE_RUNNING if running else hyperopt.JOB_STATE_NEW
        result = {"status": hyperopt.STATUS_RUNNING if running else hyperopt.STATUS_NEW}
    else:
        state, result = hyperopt.JOB_STATE_DONE, {"status": hyperopt.STATUS_FAIL}
    return {
        "state": state,
        "tid": tid,
        "spec": None,
        "result": result,
        "misc": {
            "tid": tid,
            "cmd": plan.domain.cmd,
            "workdir": None,
            "idxs": {label: [tid] if value else [] for label, value in vals.items()},
            "vals": vals,
        },
        "exp_key": None,
        "owner": None,
        "version": 0,
        "book_time": None,
        "refresh_time": None,
    }


def ask(suggest: Callable[..., list[Doc]], plan: Plan, docs: list[Doc], new_id: int, seed: int,
        **options: Any) -> Vals:
    """One hyperopt suggestion for trial id ``new_id``, from a ``Trials`` built from ``docs``."""

    if suggest is anneal.suggest:
        (doc,) = _KeptAnnealing(plan, docs, seed, **options)(new_id)
    else:
        # Random search draws from the prior with the seed alone (hyperopt's rand.suggest reads
        # nothing of the trials), so it is not handed them: building them is a pass over every one.
        trials = hyperopt.Trials() if suggest is rand.suggest else hyperopt.trials_from_docs(docs, validate=False)
        (doc,) = suggest([new_id], plan.domain, trials, seed, **options)
    return {label: [_plain(v) for v in values] for label, values in doc["misc"]["vals"].items()}


def annealing_view(plan: Plan, docs: list[Doc]) -> AnnealingView:
    """``docs`` as ``AnnealingAlgo`` reads them (``AnnealingView``), a new view.

    The leading finished documents are the same objects from one suggestion to the next
    (``to_hyperopt_docs`` reuses them), so their view is kept on the plan and extended: hyperopt
    would rebuild it from every trial for each suggestion, most of a refinement step's cost at
    1,000 trials. A history that does not start with the kept documents starts afresh.
    """
    with plan.lock:
        kept = plan.anneal_cache[0]
        if len(kept.docs) > len(docs) or not all(map(operator.is_, kept.docs, docs)) or not kept.tids:
            kept = AnnealingView(tids={label: [] for label in plan.labels}, vals={label: [] for label in plan.labels})
            plan.anneal_cache[0] = kept
        while len(kept.docs) < len(docs) and docs[len(kept.docs)]["state"] == _JOB_STATE_DONE:
            kept.add(plan.domain, docs[len(kept.docs)])
        view = kept.copy()
    for doc in docs[len(view.docs):]:
        view.add(plan.domain, doc)
    return view


class _KeptAnnealing(anneal.AnnealingAlgo):
    """hyperopt's annealing (``anneal.suggest``) on an ``annealing_view`` of the documents
    instead of the pass over every trial its constructor makes: the same suggestions (tested
    against ``anneal.suggest`` itself)."""

    def __init__(self, plan: Plan, docs: list[Doc], seed: int, avg_best_idx: float = 2.0,
                 shrink_coef: float = 0.1) -> None:
        # What AnnealingAlgo.__init__ sets, from the view; its trials are only asked to make
        # the new document, which an empty Trials does as rand.suggest's does.
        SuggestAlgo.__init__(self, plan.domain, hyperopt.Trials(), seed)
        self.avg_best_idx = avg_best_idx
        self.shrink_coef = shrink_coef
        view = annealing_view(plan, docs)
        self.tid_losses_dct = view.losses
        self.node_tids, self.node_vals = view.tids, view.vals
        self.best_tids: list[int] = []


def from_hyperopt_vals(plan: Plan, vals: Mapping[str, Sequence[Any]]) -> Suggestion:
    """hyperopt's values as a typed assignment inside the space (and, for an expression
    space, the user-facing value of the expression, with the raw values as ``internal``)."""
    if isinstance(plan.space, ExpressionSpace):

        active = {label: values[0] for label, values in vals.items() if values}
        value = _plain(space_eval(plan.space.expression, active))
        plan.space.validate(value)
        internal = {label: [_plain(v) for v in vals.get(label, [])] for label in plan.labels}
        return Suggestion(dict(value), internal)
    assignment: dict[str, Any] = {}
    codecs = {codec.name: codec for codec in plan.codecs}
    for name in plan.space.names:
        if name in plan.constants:
            assignment[name] = plan.constants[name]
        else:
            assignment[name] = codecs[name].from_val(vals[name][0])
    return Suggestion(assignment)


def _vals_of(plan: Plan, record: TrialRecord) -> Vals | None:
    """A trial's values in hyperopt's form, or None when they can't be placed."""
    if isinstance(plan.space, ExpressionSpace):
        internal = record.internal
        if not isinstance(internal, Mapping):
            return None
        vals: Vals = {}
        for label in plan.labels:
            value = internal.get(label, [])
            if not isinstance(value, list) or len(value) > 1:
                return None
            vals[label] = list(value)
        return vals
    # Types too: 1, 1.0 and True are equal keys, and a space may take one and not another.
    key: AssignmentKey = tuple((name, type(value), value) for name, value in record.assignment.items())
    try:
        known = key in plan.vals_cache
    except TypeError:  # an unhashable value: can't be cached, and validate will say why
        found = _assignment_vals(plan, record)
    else:
        if not known:
            # The history is rebuilt for every suggestion; converting each assignment once, not
            # once per suggestion, keeps a suggestion's cost from growing with the history.
            plan.vals_cache[key] = _assignment_vals(plan, record)
        found = plan.vals_cache[key]
    return None if found is None else {label: list(values) for label, values in found.items()}


def _assignment_vals(plan: Plan, record: TrialRecord) -> Vals | None:
    """A search-space trial's assignment as hyperopt vals, or None when it is outside the space."""
    try:
        plan.space.validate(record.assignment)
    except SpaceError:
        return None
    return {c.name: [c.to_val(record.assignment[c.name])] for c in plan.codecs}


def _plain(value: Any) -> Any:
    """numpy scalars and containers as plain Python (JSON-able) values."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(item) for item in value)
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 1) == 0:
        return value.item()
    return value


def _doc_key(plan: Plan, doc: Doc) -> ValsKey:
    """``_key`` of a document's values, kept for the documents ``to_hyperopt_docs`` reuses."""
    cached = plan.key_cache.get(id(doc))
    if cached is not None and cached[0] is doc:
        return cached[1]
    key = _key(doc["misc"]["vals"])
    if doc["state"] == _JOB_STATE_DONE:
        plan.key_cache[id(doc)] = (doc, key)
    return key


_JOB_STATE_DONE = 2  # hyperopt.JOB_STATE_DONE, without importing hyperopt here


def tried_keys(plan: Plan, docs: list[Doc]) -> tuple[int, set[ValsKey]]:
    """How many leading documents are finished, and the keys of every document (a new set).

    The leading finished documents are the same objects from one suggestion to the next
    (``to_hyperopt_docs`` reuses them), so their keys are kept on the plan and extended: a
    suggestion costs what is new, not a pass over the whole history. A history that does not
    start with the kept documents (another experiment on the same space) starts them afresh.
    """
    with plan.lock:
        kept, keys = plan.tried_cache[0]
        if len(kept) > len(docs) or not all(map(operator.is_, kept, docs)):
            kept, keys = [], set()
            plan.tried_cache[0] = (kept, keys)
        while len(kept) < len(docs) and docs[len(kept)]["state"] == _JOB_STATE_DONE:
            doc = docs[len(kept)]
            keys.add(_doc_key(plan, doc))
            kept.append(doc)
        settled = len(kept)
        tried = set(keys)
    tried.update(_doc_key(plan, doc) for doc in docs[settled:])
    return settled, tried


def _key(vals: Mapping[str, Sequence[Any]]) -> ValsKey:
    return tuple((label, tuple(values)) for label, values in sorted(vals.items()))


def derived_seed(seed: int, attempt: int) -> int:
    """A further seed for the ``attempt``-th redraw of a suggestion: stable across processes."""
    if attempt == 0:
        return seed
    digest = hashlib.sha256(f"{seed}:redraw:{attempt}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % (2**31 - 1)


# -- the algorithms -----------------------------------------------------------------------


class HyperoptAlgorithm(Algorithm):
    """Common ground of the hyperopt algorithms: translate, rebuild, ask, map back.

    A suggestion never repeats an assignment that an unfinished trial holds (in a batch, the
    earlier suggestions are such trials) while another point is free: a repeat is drawn again
    with a derived seed, then from the prior, and a finite space is finally enumerated.
    ``avoid_finished`` widens this to every trial in the history until every point is tried.
    Once every point of a finite space is taken, a deterministic objective is ``Exhausted``
    and a noisy one (the default) repeats points (``Algorithm``).

    Infeasible trials go into the documents with a penalised loss that ranks them after every
    feasible one (``_constraints``), so TPE's and annealing's models learn where they are.
    """

    CHECKS: ClassVar[Mapping[str, _settings.Check]] = {}
    avoid_finished = False

    def __init__(self, settings: Mapping[str, str] | None = None) -> None:
        super().__init__(settings)
        self.options = _settings.parse(self.settings, self.CHECKS)
        #: The history with infeasible trials penalised, as the models see it.
        self.penalty = Penalty()

    def suggest(self, space: Any, history: Sequence[TrialRecord], seed: int) -> Suggestion:

        plan = plan_for(space)
        docs = to_hyperopt_docs(plan, self.penalty(history))
        avoid = self._avoided(plan, docs)
        new_id = len(history)
        for attempt in range(_MODEL_DRAWS + _RANDOM_DRAWS):
            draw_seed = derived_seed(seed, attempt)
            if attempt < _MODEL_DRAWS:
                vals = self.ask_vals(plan, docs, history, new_id, draw_seed)
            else:
                vals = ask(_rand_suggest(), plan, docs, new_id, draw_seed)
            suggestion = from_hyperopt_vals(plan, vals)
            if not avoid or _key(self._normal_vals(plan, suggestion, vals)) not in avoid:
                return suggestion
        if plan.size is not None and plan.size <= _ENUMERATE_LIMIT:
            free = [vals for vals in plan.points() if _key(vals) not in avoid]
            if free:
                pick = free[int(np.random.default_rng(seed).integers(len(free)))]
                return from_hyperopt_vals(plan, pick)
        raise Exhausted(
            f"no untried point found in {_MODEL_DRAWS + _RANDOM_DRAWS} draws from the search space"
        )

    def _avoided(self, plan: Plan, docs: list[Doc]) -> set[ValsKey]:
        """The points the next suggestion must not be (see ``Algorithm`` on finite spaces).

        Never a point an unfinished trial holds while another is free; never a tried point for
        a deterministic objective (or, for ``avoid_finished``, until every point is tried).
        Once nothing is free, a deterministic objective is ``Exhausted`` and a noisy one may
        repeat any point.
        """
        settled, tried = tried_keys(plan, docs)
        unfinished_states = (hyperopt.JOB_STATE_NEW, hyperopt.JOB_STATE_RUNNING)
        unfinished = {_doc_key(plan, doc) for doc in docs[settled:] if doc["state"] in unfinished_states}
        if plan.size is None and not self.avoid_finished and not self.deterministic:
            return unfinished
        if self.deterministic or (self.avoid_finished and (plan.size is None or len(tried) < plan.size)):
            avoid = tried
        else:
            avoid = unfinished
        if plan.size is not None and len(avoid) >= plan.size:
            if self.deterministic:
                raise Exhausted(f"all {plan.size} points of the search space are taken")
            return set()
        return avoid

    @staticmethod
    def _normal_vals(plan: Plan, suggestion: Suggestion, vals: Mapping[str, list[Any]]) -> Mapping[str, list[Any]]:
        # The vals a trial holding this suggestion would have in the next call's docs.
        record = TrialRecord.pending(0, suggestion.assignment, suggestion.internal)
        return _vals_of(plan, record) or vals

    def ask_vals(self, plan: Plan, docs: list[Doc], history: Sequence[TrialRecord],
                 new_id: int, seed: int) -> Vals:
        """hyperopt's raw values for the next trial; subclasses pick the suggest function.
        ``docs`` rank infeasible trials by their penalised loss; ``history`` is as given."""
        raise NotImplementedError


def _rand_suggest() -> Callable[..., list[Doc]]:

    return rand.suggest


class Random(HyperoptAlgorithm):
    """hyperopt's random search: each parameter drawn from its prior."""

    name = "random"

    def ask_vals(self, plan: Plan, docs: list[Doc], history: Sequence[TrialRecord],
                 new_id: int, seed: int) -> Vals:
        return ask(_rand_suggest(), plan, docs, new_id, seed)


class TPE(HyperoptAlgorithm):
    """hyperopt's Tree-structured Parzen Estimator (``hyperopt.tpe.suggest``).

    Settings: Katib's ``gamma``, ``prior_weight`` and ``n_EI_candidates``, and hyperopt's
    ``n_startup_jobs`` (random suggestions before the model is used; Katib sets it to the
    number of trials asked at once and does not let a user choose it).
    """

    name = "tpe"
    SETTINGS: ClassVar[Mapping[str, str]] = {
        "gamma": "a number in (0, 1): the share of good trials, times sqrt(trials)",
        "prior_weight": "a number above 0: weight of the prior against the trials",
        "n_EI_candidates": "an integer >= 1: candidates drawn per suggestion",
        "n_startup_jobs": "an integer >= 0: random suggestions before the model is used",
    }
    CHECKS: ClassVar[Mapping[str, _settings.Check]] = {
        "gamma": _settings.number(0, 1),
        "prior_weight": _settings.number(0),
        "n_EI_candidates": _settings.integer(1),
        "n_startup_jobs": _settings.integer(0),
    }

    def ask_vals(self, plan: Plan, docs: list[Doc], history: Sequence[TrialRecord],
                 new_id: int, seed: int) -> Vals:

        return ask(tpe.suggest, plan, docs, new_id, seed, verbose=False, **self.options)


class Anneal(HyperoptAlgorithm):
    """hyperopt's annealing (``hyperopt.anneal.suggest``): draws near one of the best trials,
    in a neighbourhood that shrinks as trials accumulate."""

    name = "anneal"
    SETTINGS: ClassVar[Mapping[str, str]] = {
        "avg_best_idx": "a number >= 1: mean rank of the trial drawn near (0 is the best)",
        "shrink_coef": "a number >= 0: how fast the neighbourhood shrinks with trials",
    }
    CHECKS: ClassVar[Mapping[str, _settings.Check]] = {
        "avg_best_idx": _settings.number(1, low_open=False),
        "shrink_coef": _settings.number(0, low_open=False),
    }

    def ask_vals(self, plan: Plan, docs: list[Doc], history: Sequence[TrialRecord],
                 new_id: int, seed: int) -> Vals:

        return ask(anneal.suggest, plan, docs, new_id, seed, **self.options)
