"""Katib's ``bayesianoptimization``: scikit-optimize's ``Optimizer``, as Katib's skopt service
makes it (``pkg/suggestion/v1beta1/skopt``), with its settings ``base_estimator``,
``n_initial_points``, ``acq_func`` and ``acq_optimizer``.

Each suggestion makes an ``Optimizer`` seeded with the trial's seed, tells it every finished
trial at once (one model fit) and asks one point. Pending and running trials are told with
the best loss so far, skopt's own ``cl_min`` strategy for asking several points at once, so a
batch spreads out. Failed trials are left out; infeasible ones are told with a penalised loss
(``_constraints``: above the worst feasible one by at most the feasible range). A step or a
log scale of a parameter is kept (skopt's ``log-uniform`` prior; values snapped to the step);
normal distributions are searched as uniform over [min, max].
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import skopt

from pipetune.errors import SpecError
from pipetune.tuner.algorithms import _settings
from pipetune.tuner.algorithms._base import Algorithm, Suggestion
from pipetune.tuner.algorithms._constraints import Penalty
from pipetune.tuner.algorithms._unit import Box, box_for, choose, fit, require_search_space
from pipetune.tuner.history import TrialRecord
from pipetune.tuner.space import DoubleParameter, IntParameter


def _choice(*allowed: str) -> _settings.Check:
    def check(name: str, raw: Any) -> str:
        if str(raw) not in allowed:
            raise SpecError(
                f"algorithmSettings.{name}: expected one of {', '.join(allowed)}, got {raw!r}"
            )
        return str(raw)

    return check


class BayesianOptimization(Algorithm):
    """See the module docstring."""

    name = "bayesianoptimization"
    SETTINGS: ClassVar[Mapping[str, str]] = {
        "base_estimator": "GP (default), RF, ET or GBRT: the surrogate model",
        "n_initial_points": "an integer >= 0: random trials before the model is used (default 10)",
        "acq_func": "gp_hedge (default), LCB, EI or PI: the acquisition function",
        "acq_optimizer": "auto (default), sampling or lbfgs: how the acquisition is maximised",
    }
    CHECKS: ClassVar[Mapping[str, _settings.Check]] = {
        "base_estimator": _choice("GP", "RF", "ET", "GBRT"),
        "n_initial_points": _settings.integer(0),
        "acq_func": _choice("gp_hedge", "LCB", "EI", "PI"),
        "acq_optimizer": _choice("auto", "sampling", "lbfgs"),
    }

    def __init__(self, settings: Mapping[str, str] | None = None) -> None:
        super().__init__(settings)
        self.options = _settings.parse(self.settings, self.CHECKS)
        self._penalty = Penalty()

    def suggest(self, space: Any, history: Sequence[TrialRecord], seed: int) -> Suggestion:
        box = box_for(require_search_space(space, self.name))
        points: list[list[Any]] = []
        losses: list[float] = []
        pending: list[list[Any]] = []
        for record in self._penalty(history):
            if box.encode(record.assignment) is None:
                continue
            x = [record.assignment[axis.name] for axis in box.axes]
            if record.loss is not None:
                points.append(x)
                losses.append(float(record.loss))
            elif not record.status.final:
                pending.append(x)
        if pending and losses:
            # skopt's cl_min: pending points count as the best loss so far.
            points += pending
            losses += [min(losses)] * len(pending)

        def draw(draw_seed: int) -> dict[str, Any]:
            return _ask(box, self.options, points, losses, draw_seed)

        return Suggestion(choose(box, history, draw, seed, self.deterministic))


def _dimensions(box: Box) -> list[Any]:
    dims: list[Any] = []
    for axis in box.axes:
        choices = axis.choices
        if choices is not None:
            dims.append(skopt.space.Categorical(list(choices), name=axis.name, transform="onehot"))
            continue
        p = axis.parameter
        assert isinstance(p, (DoubleParameter, IntParameter))
        prior = "log-uniform" if axis.log else "uniform"
        if isinstance(p, IntParameter):
            dims.append(skopt.space.Integer(int(p.min), int(p.max), prior=prior, name=axis.name))
        else:
            dims.append(skopt.space.Real(float(p.min), float(p.max), prior=prior, name=axis.name))
    return dims


def _ask(box: Box, options: Mapping[str, Any], points: list[list[Any]], losses: list[float],
         seed: int) -> dict[str, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "The objective has been evaluated at this point before"
        optimizer = skopt.Optimizer(
            _dimensions(box),
            base_estimator=options.get("base_estimator", "GP"),
            n_initial_points=options.get("n_initial_points", 10),
            acq_func=options.get("acq_func", "gp_hedge"),
            acq_optimizer=options.get("acq_optimizer", "auto"),
            random_state=seed,
        )
        if points:
            optimizer.tell(points, losses)
        x = optimizer.ask()
    values: dict[str, Any] = {}
    for axis, value in zip(box.axes, x):
        p = axis.parameter
        plain = value.item() if hasattr(value, "item") else value
        if axis.choices is not None:
            # The listed value itself (skopt may hand 1.0 back for a listed 1).
            values[axis.name] = next(c for c in axis.choices if c == plain)
        else:
            assert isinstance(p, (DoubleParameter, IntParameter))
            values[axis.name] = fit(p, plain)
    return {name: values[name] if name in values else box.constants[name] for name in box.space.names}
