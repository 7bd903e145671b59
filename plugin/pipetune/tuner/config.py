"""What the tuning loop needs from an experiment, whatever its source (YAML, Python, a
CustomRun): the search space, the objective, the budget, the algorithm and its settings."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pipetune.experiment import Experiment
from pipetune.tuner import policy
from pipetune.tuner.early_stopping import MEDIANSTOP, MedianStop
from pipetune.tuner.identity import BUDGET, plain
from pipetune.tuner.objective import Objective
from pipetune.tuner.space import (
    CategoricalParameter,
    DiscreteParameter,
    DoubleParameter,
    ExpressionSpace,
    IntParameter,
    SearchSpace,
    Space,
)

DEFAULT_ALGORITHM = "auto"
#: How many leading trials may all end without the objective before the experiment gives up
#: (``policy.verdict``); the default of ``pipetune tune`` and ``pipetune.tune``.
DEFAULT_GIVE_UP_AFTER = 3
_PARAMETER_TYPES = {
    DoubleParameter: "double",
    IntParameter: "int",
    DiscreteParameter: "discrete",
    CategoricalParameter: "categorical",
}


@dataclass(frozen=True)
class TunerConfig:
    """What the loop needs from an experiment, whatever its source (YAML, Python, a CustomRun)."""

    name: str
    space: Space
    objective: Objective
    budget: policy.Budget
    algorithm: str = DEFAULT_ALGORITHM
    algorithm_settings: Mapping[str, str] = field(default_factory=dict)
    early_stopping: MedianStop | None = None
    seed: int = 0
    trial_timeout: float | None = None
    #: What running a finished experiment again does: ``Never`` (Katib's default for an
    #: Experiment) reports how it ended; ``LongRunning`` and ``FromVolume`` go on when the
    #: budget was raised (both mean the same here: the journal is the tuner's whole state,
    #: there is no suggestion service to keep alive or volume to restore).
    resume_policy: str = "LongRunning"

    def digest(self) -> str:
        """Identifies the search: a resumed experiment must have the same one."""
        # A parameter list is identified by its repr, as journals since version 1 record it.
        space = self.space.digest() if isinstance(self.space, ExpressionSpace) else repr(self.space)
        payload = json.dumps(
            {
                "space": space,
                "metric": self.objective.metric,
                "minimize": self.objective.minimize,
                "algorithm": self.algorithm,
                "settings": dict(self.algorithm_settings),
                "seed": self.seed,
                # Only when there are any: a single-objective experiment's digest is unchanged.
                **_objectives_identity(self.objective),
            },
            sort_keys=True,
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def identity(self) -> dict[str, Any]:
        """What defines the search, in Katib's field names (see ``tuner.identity``); the trial
        template's part comes from the launcher. The ``budget`` section may change between
        runs of one experiment."""
        if isinstance(self.space, SearchSpace):
            parameters: Any = {
                p.name: {"parameterType": _PARAMETER_TYPES.get(type(p), type(p).__name__),
                         **{k: v for k, v in plain(p).items() if k != "name"}}
                for p in self.space.parameters
            }
        elif isinstance(self.space, ExpressionSpace):
            parameters = {"expression": self.space.digest()}
        else:
            parameters = repr(self.space)
        objective = self.objective
        budget = self.budget
        return {
            "parameters": parameters,
            "objective": {
                "type": objective.type,
                "objectiveMetricName": objective.metric,
                "goal": objective.goal,
                "additionalMetricNames": list(objective.additional_metrics),
                "metricStrategies": dict(objective.metric_strategies),
            },
            **_objectives_identity(objective),
            "algorithm": {"algorithmName": self.algorithm, "algorithmSettings": dict(self.algorithm_settings)},
            "seed": self.seed,
            "earlyStopping": None if self.early_stopping is None else {
                "algorithmName": MEDIANSTOP, "algorithmSettings": plain(self.early_stopping)},
            BUDGET: {
                "maxTrialCount": budget.max_trials,
                "parallelTrialCount": budget.parallel,
                "maxFailedTrialCount": budget.max_failed,
                "maxTrialRetries": budget.max_retries,
                "trialTimeout": self.trial_timeout,
            },
        }


def _objectives_identity(objective: Objective) -> dict[str, Any]:
    """``objectives`` and ``constraints`` in Katib-like field names, each only when present,
    so a single-objective experiment's identity is what it was before they existed."""
    found: dict[str, Any] = {}
    if objective.multi:
        found["objectives"] = [
            {"type": o.type, "objectiveMetricName": o.metric, "goal": o.goal} for o in objective.objectives
        ]
    if objective.constraints:
        found["constraints"] = [{"metricName": c.metric, "min": c.min, "max": c.max} for c in objective.constraints]
    return found


def tuner_config(experiment: Experiment, seed: int | None = None) -> TunerConfig:
    """The loop's view of an experiment spec (``pipetune.experiment.Experiment``)."""
    early = experiment.early_stopping
    return TunerConfig(
        name=experiment.name,
        space=experiment.space,
        objective=experiment.objective,
        budget=policy.Budget(
            max_trials=experiment.max_trial_count,
            parallel=experiment.parallel_trial_count,
            max_failed=experiment.max_failed_trial_count,
            max_retries=experiment.max_trial_retries,
        ),
        algorithm=experiment.algorithm.name or DEFAULT_ALGORITHM,
        algorithm_settings={
            k: v for k, v in experiment.algorithm.settings.items() if k != "random_state"
        },
        early_stopping=early.rule if early is not None else None,
        seed=seed if seed is not None else (experiment.seed or 0),
        trial_timeout=experiment.trial_timeout,
        resume_policy=_resume_policy(experiment),
    )


def _resume_policy(experiment: Experiment) -> str:
    """Katib's ``resumePolicy`` when the spec sets it; unset, a finished experiment whose
    ``maxTrialCount`` was raised goes on (what a user raising it asks for), where Katib's
    default, ``Never``, would only report how it ended."""
    spec = experiment.raw.get("spec") if isinstance(experiment.raw, Mapping) else None
    if isinstance(spec, Mapping) and spec.get("resumePolicy") is not None:
        return experiment.resume_policy
    return "LongRunning"
