"""What every engine needs to know about resource kinds, below the engines and the bridges.

``_table``: the kinds pipetune knows (group, version, plural, default success and failure
conditions, primary pod and container) and the labels it puts on children. ``_conditions``:
success and failure conditions as JSONPath, with Katib's GJSON forms translated.
``_collector``: the metrics collector sidecar added to a trial's primary pod templates.
``_training``: the training operators' rules for a valid PyTorchJob, TFJob or TrainJob, and
the roles of a valid one.
"""

from pipetune.kinds._collector import (
    COLLECTOR_CONTAINER,
    COLLECTOR_IMAGE,
    COLLECTOR_RESOURCES,
    COLLECTOR_VOLUME,
    CollectorError,
    add_metrics_collector,
    collector_folder,
    collector_resources,
    collector_templates,
)
from pipetune.kinds._conditions import (
    Condition,
    ConditionError,
    compile_condition,
    is_gjson,
    translate_gjson,
)
from pipetune.kinds._table import (
    EXPERIMENT_API,
    EXPERIMENT_KIND,
    EXPERIMENT_LABEL,
    JOB,
    OTHER_TRAINING,
    PIPELINE_RUN,
    PYTORCH_JOB,
    RESULTS_PATH,
    RESULTS_RESULT,
    TASK_RUN,
    TF_JOB,
    TRAIN_JOB,
    TRAINING_GROUP,
    TRAINING_KINDS,
    TRIAL_LABEL,
    WORKFLOW,
    Kind,
    TrainingKind,
    default_plural,
    kind_of,
    known_kind,
)
from pipetune.kinds._training import (
    Role,
    check_training_job,
    is_training_job,
    nproc_per_node,
    replica_roles,
)

__all__ = [
    "COLLECTOR_CONTAINER",
    "COLLECTOR_IMAGE",
    "COLLECTOR_RESOURCES",
    "COLLECTOR_VOLUME",
    "CollectorError",
    "add_metrics_collector",
    "collector_folder",
    "collector_resources",
    "collector_templates",
    "EXPERIMENT_API",
    "EXPERIMENT_KIND",
    "EXPERIMENT_LABEL",
    "JOB",
    "OTHER_TRAINING",
    "PIPELINE_RUN",
    "PYTORCH_JOB",
    "RESULTS_PATH",
    "RESULTS_RESULT",
    "TASK_RUN",
    "TF_JOB",
    "TRAIN_JOB",
    "TRAINING_GROUP",
    "TRAINING_KINDS",
    "TRIAL_LABEL",
    "WORKFLOW",
    "Condition",
    "ConditionError",
    "Kind",
    "Role",
    "TrainingKind",
    "check_training_job",
    "compile_condition",
    "default_plural",
    "is_gjson",
    "is_training_job",
    "kind_of",
    "known_kind",
    "nproc_per_node",
    "replica_roles",
    "translate_gjson",
]
