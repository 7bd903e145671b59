"""Every ``pipetune`` command's flags and help.

A command's parser sets ``command``, its key in ``pipetune.cli.COMMANDS``; a group's parser
(``runs``, ``checkpoints``, ...) sets ``usage`` to itself, whose help is shown when no
subcommand is given. The global flags (``--state-dir``, ``-v``, ``-q``) are accepted before the
command and after it: every subparser has them too, with no default of its own, so a value
given before is kept unless one is given after.
"""

from __future__ import annotations

import argparse
import functools
import os

from pipetune.store import DEFAULT_STATE_DIR
from pipetune.version import __version__

STATE_DIR_ENV = "PIPETUNE_STATE_DIR"


def build_parser() -> argparse.ArgumentParser:
    """The ``pipetune`` parser: every command's flags and help, and the ``command`` each sets."""
    parser = argparse.ArgumentParser(
        prog="pipetune",
        description="Run ML pipeline components, locally or on a cluster, and record the runs.",
    )
    parser.add_argument("--version", action="version", version=f"pipetune {__version__}")
    _global_flags(parser, default=True)
    common = argparse.ArgumentParser(add_help=False)
    _global_flags(common, default=False)
    commands = _Commands(parser.add_subparsers(title="commands", metavar="COMMAND"), common)

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
    tune.add_argument(
        "--json", action="store_true",
        help="print the result as one JSON document on stdout (progress still goes to stderr; -q hides it)",
    )
    tune.set_defaults(command="tune")

    plot = commands.add_parser(
        "plot", help="draw an experiment's views (history, parameters, importance, ...) as PNG or HTML files",
        description="Draw the dashboard's views of an experiment: optimisation history with the running best, "
        "slice (each parameter against the objective), parameter importance, parallel coordinates, contour of "
        "the two most important numeric parameters, and intermediate values per trial.",
    )
    plot.add_argument("experiment_dir", metavar="EXPERIMENT",
                      help="an experiment directory, or an experiment's name or run id in the state directory")
    plot.add_argument("--out", help="where to write the files (default: the experiment directory)")
    plot.add_argument("--html", action="store_true",
                      help="write one self-contained interactive HTML file per view instead of PNG (no network needed)")
    plot.set_defaults(command="plot")

    runs = commands.add_parser("runs", help="list, show, delete and collect recorded runs")
    runs_commands = _Commands(runs.add_subparsers(title="runs commands", metavar="COMMAND"), common)
    runs_list = runs_commands.add_parser(
        "list", help="recorded runs, newest first",
        description="Recorded runs, newest first. Without a filter, each experiment's trials and each "
        "pipeline's tasks are listed under it; with one, every matching run at any level. Trial rows "
        "show the trial's index and parameters. --limit counts the rows printed.",
    )
    runs_list.add_argument("--limit", type=int, default=20, help="rows to print (default 20; 0 for all)")
    runs_list.add_argument("--status", action="append", default=[], metavar="STATUS",
                           help="only runs in this status (Pending, Running, Succeeded, Failed, Cancelled); "
                           "repeat or comma-separate for several")
    runs_list.add_argument("--component", metavar="NAME",
                           help="only runs of components whose name contains NAME (or matches a glob: 'train-*')")
    runs_list.add_argument("--experiment", metavar="NAME", help="only the trials of the experiment NAME")
    runs_list.add_argument("--since", metavar="WHEN",
                           help="only runs created since WHEN: an age (30m, 12h, 7d) or a date (2026-12-01)")
    runs_list.add_argument("--search", metavar="TEXT",
                           help="only runs whose id, component, status, reason, message or parameters contain TEXT")
    runs_list.add_argument("--sort", default="created", metavar="KEY",
                           help="created (default), started, duration, status, component, or metric:NAME "
                           "(largest first; metric:-NAME smallest first)")
    runs_list.add_argument("--json", action="store_true", help="print JSON lines")
    runs_list.set_defaults(command="runs list")
    runs_show = runs_commands.add_parser("show", help="one run in full")
    runs_show.add_argument("run_id", metavar="RUN_ID", help="a run id or a unique prefix of one")
    runs_show.add_argument("--json", action="store_true", help="print JSON")
    runs_show.set_defaults(command="runs show")
    runs_delete = runs_commands.add_parser(
        "delete", help="remove runs with their child runs, outputs and logs",
        description="Remove each run, its child runs (an experiment's trials, a pipeline's tasks), their "
        "outputs and logs, and an experiment's directory when it lies inside the state directory. Nothing "
        "outside the state directory is touched. Prints the space freed.",
    )
    runs_delete.add_argument("run_ids", nargs="+", metavar="RUN_ID", help="run ids or unique prefixes")
    runs_delete.add_argument("--dry-run", action="store_true", help="only say what would be removed")
    runs_delete.add_argument("--force", action="store_true",
                             help="also remove runs recorded as Pending or Running (leftovers of a process that died)")
    runs_delete.set_defaults(command="runs delete")
    runs_gc = runs_commands.add_parser(
        "gc", help="remove old runs: all but the newest N, or those older than an age",
        description="Remove top-level runs (with their child runs, outputs and logs) beyond the newest "
        "--keep N, and/or created more than --older-than ago; both given, a run must be both. Runs still "
        "Pending or Running are kept. Run folders left without a run are removed too. Prints the space freed.",
    )
    runs_gc.add_argument("--keep", type=int, metavar="N", help="keep the newest N top-level runs")
    runs_gc.add_argument("--older-than", metavar="AGE", help="remove runs created more than AGE ago (30m, 12h, 7d, 2w)")
    runs_gc.add_argument("--dry-run", action="store_true", help="only say what would be removed")
    runs_gc.set_defaults(command="runs gc")
    runs_check = runs_commands.add_parser(
        "check", help="check the store: SQLite's integrity check, orphaned runs and run folders")
    runs_check.set_defaults(command="runs check")
    runs.set_defaults(usage=runs)

    experiments = commands.add_parser("experiments", help="list, show and delete experiments")
    experiments_commands = _Commands(experiments.add_subparsers(title="experiments commands", metavar="COMMAND"),
                                     common)
    exp_list = experiments_commands.add_parser(
        "list", help="every experiment: status, progress, best objective, algorithm, started, duration")
    exp_list.add_argument("--json", action="store_true", help="print JSON lines")
    exp_list.set_defaults(command="experiments list")
    exp_show = experiments_commands.add_parser("show", help="one experiment: its trials, the best one")
    exp_show.add_argument("experiment", metavar="NAME|RUN_ID")
    exp_show.add_argument("--json", action="store_true", help="print JSON")
    exp_show.set_defaults(command="experiments show")
    exp_delete = experiments_commands.add_parser(
        "delete", help="remove an experiment, its trials' runs and (inside the state directory) its directory")
    exp_delete.add_argument("experiment", metavar="NAME|RUN_ID")
    exp_delete.add_argument("--dry-run", action="store_true", help="only say what would be removed")
    exp_delete.add_argument("--force", action="store_true", help="even when it is recorded as Running")
    exp_delete.set_defaults(command="experiments delete")
    experiments.set_defaults(usage=experiments)

    ui = commands.add_parser(
        "ui", help="a local web dashboard over the run store and the experiments' journals",
        description="Serve a read-only dashboard of the state directory: experiments (updating live while "
        "they run), runs with filters and search, one run's logs and outputs, runs compared, pipeline runs "
        "as their DAG; with --engine kubernetes, the same pages for a cluster namespace's experiments. "
        "Everything it needs ships in the package; no network is used. It listens on the "
        "loopback address unless --host says otherwise, with no login: give another host only on a "
        "network you trust.",
    )
    ui.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    ui.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 for any free one)")
    ui.add_argument(
        "--engine", choices=("local", "kubernetes"), default="local",
        help="what to show: the state directory's runs (local, default), or the Experiments and tuning "
        "CustomRuns of a namespace of the cluster of the kubeconfig (or of this pod), read-only "
        "(manifests/dashboard-rbac.yaml grants what it reads)",
    )
    ui.add_argument("--namespace", help="--engine kubernetes: the namespace to show (default: the "
                    "kubeconfig context's, else default)")
    ui.add_argument("--context", help="--engine kubernetes: the kubeconfig context to use")
    ui.add_argument("--artifact-root", action="append", default=[], metavar="DIR",
                    help="--engine kubernetes: a folder of this machine (a volume the trials publish to) whose "
                    "file:// artifacts may be served; repeatable; none by default")
    ui.set_defaults(command="ui")

    completion = commands.add_parser(
        "completion", help="print a shell completion script",
        description="Print a completion script for SHELL. bash: `pipetune completion bash > "
        "~/.local/share/bash-completion/completions/pipetune`; zsh: `pipetune completion zsh > "
        "\"${fpath[1]}/_pipetune\"`.",
    )
    completion.add_argument("shell", metavar="SHELL", help="bash, zsh or tcsh")
    completion.set_defaults(command="completion")

    checkpoints = commands.add_parser("checkpoints", help="list and collect checkpoints")
    checkpoints_commands = _Commands(checkpoints.add_subparsers(title="checkpoints commands", metavar="COMMAND"),
                                     common)
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
    catalog_commands = _Commands(catalog.add_subparsers(title="catalog commands", metavar="COMMAND"), common)
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

    collect = commands.add_parser(
        "collect",
        help="inside a pod: the metrics collector sidecar (Katib's File and TensorFlowEvent collectors)",
        description="Read a trial's metrics file (--file) or TensorFlow event folder (--tfevents) "
        "as it grows, print each new entry as a 'pipetune.report {...}' line, and once the pod's "
        "other processes (or --pid) have ended write the final results to the termination "
        "message. The Kubernetes engine adds it to a trial's pod as the container "
        "pipetune-metrics-collector; exits 0 once collection ends.",
    )
    source = collect.add_mutually_exclusive_group()
    source.add_argument("--file", metavar="PATH", help="the metrics file the trial writes (Katib's File collector)")
    source.add_argument("--tfevents", metavar="DIR", help="the folder the trial writes event files under")
    collect.add_argument("--format", dest="file_format", choices=("TEXT", "JSON"), default="TEXT",
                         help="--file: name=value lines (TEXT, default) or one JSON object a line")
    collect.add_argument("--filter", action="append", default=[], metavar="REGEX",
                         help="--file TEXT: a metricsFormat expression, two groups (name, value); repeatable")
    collect.add_argument("--metric", action="append", default=[], metavar="NAME",
                         help="keep this metric (repeatable; default: every one)")
    collect.add_argument("--pid", action="append", type=int, default=[], metavar="PID",
                         help="wait for this process to end (repeatable; default: every process of the pod "
                         "but PID 1 and this one's own)")
    collect.add_argument("--interval", type=_positive_float, default=1.0,
                         help="seconds between looks at the metrics and the processes (default 1)")
    collect.add_argument("--grace", type=float, default=10.0,
                         help="seconds to wait for another process to show up (default 10)")
    collect.add_argument("--termination-message-path",
                         help="write the final results here (default: /dev/termination-log when it exists; "
                         "'' to disable)")
    collect.set_defaults(command="collect")

    pipeline = commands.add_parser("pipeline", help="run a whole pipeline on this machine")
    pipeline_commands = _Commands(pipeline.add_subparsers(title="pipeline commands", metavar="COMMAND"), common)
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


def _global_flags(parser: argparse.ArgumentParser, default: bool) -> None:
    """``--state-dir``, ``-v`` and ``-q``: with their defaults on the top parser only."""
    unset = argparse.SUPPRESS
    parser.add_argument(
        "--state-dir",
        default=os.environ.get(STATE_DIR_ENV, DEFAULT_STATE_DIR) if default else unset,
        help=f"where runs are recorded (default: ${STATE_DIR_ENV} or {DEFAULT_STATE_DIR})",
    )
    parser.add_argument("--verbose", "-v", action="count", default=0 if default else unset,
                        help="more output: -v shows what pipetune does, -vv debugging detail")
    parser.add_argument("--quiet", "-q", action="store_true", default=False if default else unset,
                        help="less output: no progress, no echo of a run's output, warnings and errors only")


class _Commands:
    """A subparsers group whose every parser also takes the global flags (``common``)."""

    def __init__(self, group: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
        self.group = group
        self.add_parser = functools.partial(group.add_parser, parents=[common])


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value
