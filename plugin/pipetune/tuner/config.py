"""What the tuning loop needs from an experiment, whatever its source (YAML, Python, a
CustomRun): the search space, the objective, the budget, the algorithm and its settings."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from pipetune.experiment import Experiment
from pipetune.tuner import policy
from pipetune.tuner.early_stopping import MedianStop
from pipetune.tuner.objective import Objective
from pipetune.tuner.space import ExpressionSpace, Space

DEFAULT_ALGORITHM = "auto"


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
            },
            sort_keys=True,
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


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
        resume_policy=experiment.resume_policy,
    )
