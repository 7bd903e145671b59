"""Every ``pipetune`` command's flags and help.

A command's parser sets ``command``, its key in ``pipetune.cli.COMMANDS``; a group's parser
(``runs``, ``checkpoints``, ...) sets ``usage`` to itself, whose help is shown when no
subcommand is given.
"""

from __future__ import annotations

import argparse
import os

from pipetune.store import DEFAULT_STATE_DIR

STATE_DIR_ENV = "PIPETUNE_STATE_DIR"


def build_parser() -> argparse.ArgumentParser:
    """The ``pipetune`` parser: every command's flags and help, and the ``command`` each sets."""
    parser = argparse.ArgumentParser(
        prog="pipetune",
        description="Run ML pipeline components, locally or on a cluster, and record the runs.",
    )
    parser.add_argument(
        "--state-dir",
        default=os.environ.get(STATE_DIR_ENV, DEFAULT_STATE_DIR),
        help=f"where runs are recorded (default: ${STATE_DIR_ENV} or {DEFAULT_STATE_DIR})",
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    run = commands.add_parser("run", help="run a component once on this machine")
    run.add_argument("component", help="path to a component.yaml (or its folder)")
    run.add_argument(
        "--input",
        "-i",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an input value; repeat for each input (artifact inputs take a path)",
    )
    run.add_argument("--timeout", type=_positive_float, help="stop the run after SECONDS")
    run.add_argument(
        "--checkpoints",
        metavar="URI",
        help="where the run keeps its checkpoints (a path or an fsspec URI; default: in the run's "
        "outputs); when one is complete there, the run resumes from the newest "
        "($PIPETUNE_RESUME_FROM), so the same command run again continues an interrupted run",
    )
    run.add_argument(
        "--retries", type=int, default=0, metavar="N",
        help="run again up to N times after a failure, from the newest complete checkpoint",
    )
    run.add_argument("--quiet", "-q", action="store_true", help="don't echo the run's output")
    run.add_argument(
        "--json", action="store_true", help="print the run record as JSON (and nothing else)"
    )
    run.set_defaults(command="run")

    execute = commands.add_parser(
        "exec",
        help="inside a container: run a command and publish its results.yaml",
        description="Run CMD, validate the results.yaml it wrote in $PIPETUNE_OUTPUTS (default "
        "/outputs), and publish them on the engine's channel.",
    )
    execute.add_argument(
        "--termination-message-path",
        help="also write the results here (default: /dev/termination-log when it exists; "
        "'' to disable)",
    )
    execute.add_argument(
        "--kfp-executor-input", metavar="JSON",
        help="KFP v2's executor input (the {executorInput: null} placeholder): also write the "
        "executor output file it names, with a Metrics artifact holding the metrics; '' for none",
    )
    execute.add_argument("cmd", nargs=argparse.REMAINDER, metavar="-- CMD ...")
    execute.set_defaults(command="exec")

    tune = commands.add_parser(
        "tune",
        help="run an experiment: trials suggested, run and recorded until its budget or goal",
        description="Run a pipetune or Katib Experiment locally (the default) or on a cluster "
        "(--engine kubernetes). Run the same command again to resume an interrupted experiment "
        "from its directory; on a cluster, its running trials are adopted.",
    )
    tune.add_argument("experiment", help="an Experiment YAML (pipetune.dev/v1alpha1 or kubeflow.org/v1beta1)")
    tune.add_argument(
        "--dir",
        help="the experiment directory (default: <state-dir>/experiments/<name>); "
        "it holds the journal, the tuner's results.yaml and trials.json",
    )
    tune.add_argument("--seed", type=int, help="override the experiment's seed")
    tune.add_argument(
        "--local-command",
        metavar="COMMAND",
        help="run each trial's primary container with this command line instead (split like a "
        "shell would, never run by one; ${trialParameters.x} placeholders allowed), for an "
        "image that can't run here; the same as spec.local.command, without editing the YAML",
    )
    tune.add_argument(
        "--engine",
        choices=("local", "kubernetes"),
        default="local",
        help="where trials run: local processes (default), or Kubernetes resources of the trial "
        "template's kind in the cluster of the kubeconfig (or of this pod)",
    )
    tune.add_argument("--namespace", help="--engine kubernetes: the namespace of the trials "
                      "(default: the experiment's metadata.namespace, else default)")
    tune.add_argument("--context", help="--engine kubernetes: the kubeconfig context to use")
    tune.add_argument(
        "--checkpoints",
        metavar="URI",
        help="where trials keep their checkpoints, <URI>/trial-NNNN (a path or an fsspec URI such "
        "as s3://bucket/prefix; default: <experiment dir>/checkpoints locally, none on a cluster)",
    )
    tune.add_argument(
        "--repair",
        action="store_true",
        help="resume past a bad journal line: keep a copy of the journal (journal.jsonl.bak-<time>), "
        "drop the first bad line and every line after it, and run again what they held",
    )
    tune.add_argument(
        "--fresh",
        action="store_true",
        help="start the experiment over: the directory's journal and trials are kept as an earlier "
        "attempt (<dir>/attempt-<n>) and a new attempt starts",
    )
    tune.add_argument(
        "--give-up-after",
        type=int,
        default=3,
        metavar="N",
        help="end the experiment when its first N trials all fail or all finish without the objective "
        "metric (default 3; 0: never)",
    )
    tune.add_argument("--quiet", "-q", action="store_true", help="no progress, only the final table")
    tune.set_defaults(command="tune")

    plot = commands.add_parser("plot", help="draw an experiment's history and parameters as PNG files")
    plot.add_argument("experiment_dir", metavar="EXPERIMENT_DIR")
    plot.add_argument("--out", help="where to write the PNG files (default: EXPERIMENT_DIR)")
    plot.set_defaults(command="plot")

    runs = commands.add_parser("runs", help="list and show recorded runs")
    runs_commands = runs.add_subparsers(title="runs commands", metavar="COMMAND")
    runs_list = runs_commands.add_parser("list", help="recorded runs, newest first")
    runs_list.add_argument("--limit", type=int, default=20, help="how many (default 20; 0 for all)")
    runs_list.add_argument("--json", action="store_true", help="print JSON lines")
    runs_list.set_defaults(command="runs list")
    runs_show = runs_commands.add_parser("show", help="one run in full")
    runs_show.add_argument("run_id", metavar="RUN_ID", help="a run id or a unique prefix of one")
    runs_show.add_argument("--json", action="store_true", help="print JSON")
    runs_show.set_defaults(command="runs show")
    runs.set_defaults(usage=runs)

    checkpoints = commands.add_parser("checkpoints", help="list and collect checkpoints")
    checkpoints_commands = checkpoints.add_subparsers(title="checkpoints commands", metavar="COMMAND")
    target_help = "a run id, an experiment directory, or a checkpoint store (a path or an fsspec URI)"
    ck_list = checkpoints_commands.add_parser(
        "list", help="every checkpoint: entity, step, size, age, complete or not, metadata"
    )
    ck_list.add_argument("target", metavar="RUN_ID|EXPERIMENT_DIR|URI", help=target_help)
    ck_list.add_argument("--json", action="store_true", help="print JSON lines")
    ck_list.set_defaults(command="checkpoints list")
    ck_gc = checkpoints_commands.add_parser(
        "gc",
        help="remove what retention drops, incomplete checkpoints and stale temporaries "
        "(a dry run unless --apply)",
    )
    ck_gc.add_argument("target", metavar="RUN_ID|EXPERIMENT_DIR|URI", help=target_help)
    ck_gc.add_argument("--apply", action="store_true", help="really remove (default: only list)")
    ck_gc.add_argument("--keep-last", type=int, default=3, help="complete checkpoints to keep (default 3)")
    ck_gc.add_argument("--keep-best", type=int, default=0, help="also keep the best K by --metric")
    ck_gc.add_argument("--metric", help="the metadata metric --keep-best ranks by")
    ck_gc.add_argument("--mode", choices=("max", "min"), default="max", help="best is max (default) or min")
    ck_gc.add_argument("--stale-seconds", type=float, default=3600.0,
                       help="temporary directories older than this are abandoned saves (default 3600)")
    ck_gc.set_defaults(command="checkpoints gc")
    checkpoints.set_defaults(usage=checkpoints)

    catalog = commands.add_parser("catalog", help="check the component catalog")
    catalog_commands = catalog.add_subparsers(title="catalog commands", metavar="COMMAND")
    check = catalog_commands.add_parser(
        "check", help="validate every component, its README and components/index.yaml"
    )
    check.add_argument("root", nargs="?", default="components", help="catalog folder")
    check.set_defaults(command="catalog check")
    generate = catalog_commands.add_parser(
        "generate", help="write each component's Tekton Task (task.yaml) from its component.yaml"
    )
    generate.add_argument("root", nargs="?", default="components", help="catalog folder")
    generate.set_defaults(command="catalog generate")

    step = commands.add_parser(
        "step",
        help="inside a container: run a catalog component from its inputs and publish its results",
        description="Run COMPONENT (a catalog name or a component.yaml) with --input values, "
        "through the publisher; with --tekton-results, also as Tekton Task results (the step "
        "of every generated task.yaml). An optional input given as an empty string is absent.",
    )
    step.add_argument("component", help="a catalog component name or a component.yaml path")
    step.add_argument("--input", "-i", action="append", default=[], metavar="NAME=VALUE")
    step.add_argument("--tekton-results", metavar="DIR", help="write Tekton Task results here")
    step.set_defaults(command="step")
    catalog.set_defaults(usage=catalog)

    pipeline = commands.add_parser("pipeline", help="run a whole pipeline on this machine")
    pipeline_commands = pipeline.add_subparsers(title="pipeline commands", metavar="COMMAND")
    pipeline_run = pipeline_commands.add_parser(
        "run",
        help="run a compiled KFP pipeline or a Tekton PipelineRun here: tasks in DAG order, independent ones in parallel",
        description="Run a compiled Kubeflow Pipelines pipeline (the YAML kfp.compiler writes), or a "
        "Tekton PipelineRun or TaskRun (any Task: script steps, when, finally, matrix, workspaces; "
        "catalog Tasks and pipetune's tuning custom task), on this machine with "
        "the local engine: each task a run in the run store under one pipeline run, values and "
        "artifacts passed as KFP or Tekton passes them. A task that can't run here is refused "
        "before anything runs.",
    )
    pipeline_run.add_argument("file", help="the compiled pipeline YAML, or a Tekton file (or folder) with "
                              "PipelineRuns and TaskRuns")
    pipeline_run.add_argument("--param", "-p", action="append", default=[], metavar="NAME=VALUE",
                              help="a pipeline parameter (repeatable); the others take their defaults")
    pipeline_run.add_argument("--parallel", type=int, default=4, help="tasks run at once at most (default 4)")
    pipeline_run.add_argument("-f", dest="file_extra", action="append", default=[], metavar="FILE",
                              help="Tekton: another file, or a folder of YAML files, with objects the runs name "
                              "(Pipelines, Tasks, StepActions, ConfigMaps, Secrets, the Experiments of custom "
                              "tasks); repeatable")
    pipeline_run.add_argument("--artifact", "-a", action="append", default=[], metavar="NAME=PATH",
                              help="KFP: a pipeline input artifact (a path, file:// or an fsspec URI); repeatable")
    pipeline_run.add_argument("--no-cache", action="store_true",
                              help="KFP: run every task, even one whose outputs KFP's cache would reuse")
    pipeline_run.add_argument("--secrets", metavar="DIR", default=None,
                              help="KFP: Secrets for kfp-kubernetes settings, a folder per Secret with one file per "
                              "key (default: $PIPETUNE_SECRETS)")
    pipeline_run.add_argument("--config-maps", metavar="DIR", default=None,
                              help="KFP: ConfigMaps, laid out as --secrets (default: $PIPETUNE_CONFIG_MAPS)")
    pipeline_run.set_defaults(command="pipeline run")
    pipeline.set_defaults(usage=pipeline)

    controller = commands.add_parser(
        "controller",
        help="run the Tekton custom-task controller (CustomRuns of Experiment, standalone Experiments)",
        description="Reconcile tekton.dev/v1beta1 CustomRuns whose customRef/customSpec is a "
        "pipetune.dev/v1alpha1 Experiment, and applied Experiments (except those labelled "
        "pipetune.dev/template=true), running their trials as TaskRuns of catalog Tasks or as the "
        "resources their trial templates name. Runs until SIGTERM or Ctrl-C; manifests/ deploys it.",
    )
    where = controller.add_mutually_exclusive_group()
    where.add_argument("--namespace", "-n", action="append", default=[], metavar="NS",
                       help="watch this namespace (repeatable; default: this pod's namespace)")
    where.add_argument("--all-namespaces", "-A", action="store_true", help="watch every namespace")
    controller.add_argument("--context", help="kubeconfig context (outside a cluster)")
    controller.add_argument("--workers", type=int, default=4, help="parents reconciled at once (default 4)")
    controller.add_argument("--resync", type=_positive_float, default=10.0,
                            help="seconds between looks at a running parent when nothing happens (default 10)")
    controller.set_defaults(command="controller")
    return parser


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value
