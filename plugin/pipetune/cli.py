"""The ``pipetune`` command: flags and human-facing output. The work happens elsewhere."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipetune.errors import PipetuneError, RunError, UsageError
from pipetune.store import DEFAULT_STATE_DIR, RunRecord, RunStore, new_run_id

STATE_DIR_ENV = "PIPETUNE_STATE_DIR"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 1 run failure, 2 usage or spec error)."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.handler(args) or 0)
    except PipetuneError as exc:
        print(f"pipetune: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("pipetune: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `pipetune runs list | head`: the reader left; that's not an error.
        sys.stderr.close()
        return 0


def _parser() -> argparse.ArgumentParser:
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
    run.set_defaults(handler=_cmd_run)

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
    execute.set_defaults(handler=_cmd_exec)

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
    tune.add_argument("--quiet", "-q", action="store_true", help="no progress, only the final table")
    tune.set_defaults(handler=_cmd_tune)

    plot = commands.add_parser("plot", help="draw an experiment's history and parameters as PNG files")
    plot.add_argument("experiment_dir", metavar="EXPERIMENT_DIR")
    plot.add_argument("--out", help="where to write the PNG files (default: EXPERIMENT_DIR)")
    plot.set_defaults(handler=_cmd_plot)

    runs = commands.add_parser("runs", help="list and show recorded runs")
    runs_commands = runs.add_subparsers(title="runs commands", metavar="COMMAND")
    runs_list = runs_commands.add_parser("list", help="recorded runs, newest first")
    runs_list.add_argument("--limit", type=int, default=20, help="how many (default 20; 0 for all)")
    runs_list.add_argument("--json", action="store_true", help="print JSON lines")
    runs_list.set_defaults(handler=_cmd_runs_list)
    runs_show = runs_commands.add_parser("show", help="one run in full")
    runs_show.add_argument("run_id", metavar="RUN_ID", help="a run id or a unique prefix of one")
    runs_show.add_argument("--json", action="store_true", help="print JSON")
    runs_show.set_defaults(handler=_cmd_runs_show)
    runs.set_defaults(handler=lambda _args: _usage(runs))

    checkpoints = commands.add_parser("checkpoints", help="list and collect checkpoints")
    checkpoints_commands = checkpoints.add_subparsers(title="checkpoints commands", metavar="COMMAND")
    target_help = "a run id, an experiment directory, or a checkpoint store (a path or an fsspec URI)"
    ck_list = checkpoints_commands.add_parser(
        "list", help="every checkpoint: entity, step, size, age, complete or not, metadata"
    )
    ck_list.add_argument("target", metavar="RUN_ID|EXPERIMENT_DIR|URI", help=target_help)
    ck_list.add_argument("--json", action="store_true", help="print JSON lines")
    ck_list.set_defaults(handler=_cmd_checkpoints_list)
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
    ck_gc.set_defaults(handler=_cmd_checkpoints_gc)
    checkpoints.set_defaults(handler=lambda _args: _usage(checkpoints))

    catalog = commands.add_parser("catalog", help="check the component catalog")
    catalog_commands = catalog.add_subparsers(title="catalog commands", metavar="COMMAND")
    check = catalog_commands.add_parser(
        "check", help="validate every component, its README and components/index.yaml"
    )
    check.add_argument("root", nargs="?", default="components", help="catalog folder")
    check.set_defaults(handler=_cmd_catalog_check)
    generate = catalog_commands.add_parser(
        "generate", help="write each component's Tekton Task (task.yaml) from its component.yaml"
    )
    generate.add_argument("root", nargs="?", default="components", help="catalog folder")
    generate.set_defaults(handler=_cmd_catalog_generate)

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
    step.set_defaults(handler=_cmd_step)
    catalog.set_defaults(handler=lambda _args: _usage(catalog))

    pipeline = commands.add_parser("pipeline", help="run a whole pipeline on this machine")
    pipeline_commands = pipeline.add_subparsers(title="pipeline commands", metavar="COMMAND")
    pipeline_run = pipeline_commands.add_parser(
        "run",
        help="run a compiled KFP pipeline or a Tekton PipelineRun here: tasks in DAG order, independent ones in parallel",
        description="Run a compiled Kubeflow Pipelines pipeline (the YAML kfp.compiler writes), or a "
        "Tekton PipelineRun of catalog Tasks and pipetune's tuning custom task, on this machine with "
        "the local engine: each task a run in the run store under one pipeline run, values and "
        "artifacts passed as KFP or Tekton passes them. A task that can't run here is refused "
        "before anything runs.",
    )
    pipeline_run.add_argument("file", help="the compiled pipeline YAML")
    pipeline_run.add_argument("--param", "-p", action="append", default=[], metavar="NAME=VALUE",
                              help="a pipeline parameter (repeatable); the others take their defaults")
    pipeline_run.add_argument("--parallel", type=int, default=4, help="tasks run at once at most (default 4)")
    pipeline_run.add_argument("-f", dest="file_extra", action="append", default=[], metavar="FILE",
                              help="Tekton: another file with objects the PipelineRun names (its Pipeline, "
                              "the Experiments of its custom tasks); repeatable")
    pipeline_run.set_defaults(handler=_cmd_pipeline_run)
    pipeline.set_defaults(handler=lambda _args: _usage(pipeline))

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
    controller.set_defaults(handler=_cmd_controller)
    return parser


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def _parse_inputs(pairs: list[str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise UsageError(f"--input {pair!r}: expected NAME=VALUE")
        if name in values:
            raise UsageError(f"--input {name}: given twice")
        values[name] = value
    return values


class _Stop(Exception):
    def __init__(self, signum: int) -> None:
        self.signum = signum


def _cmd_run(args: argparse.Namespace) -> int:
    from pipetune.components import load_component
    from pipetune.engines.local import LocalEngine
    from pipetune.runner import finish_run, start_run

    component = load_component(args.component)
    arguments = component.bind(_parse_inputs(args.input))
    for item in component.inputs:
        if not item.is_parameter and item.name in arguments:
            path = Path(str(arguments[item.name]))
            if "://" not in str(path):
                if not path.exists():
                    raise UsageError(
                        f"{component.source}: input {item.name!r}: expected an existing path, "
                        f"got {str(path)!r}"
                    )
                arguments[item.name] = str(path.resolve())
    if args.retries < 0:
        raise UsageError(f"--retries: expected 0 or more, got {args.retries}")
    store = RunStore(args.state_dir)
    engine = LocalEngine()
    first_id = new_run_id()
    # Checkpoints live outside any one attempt, so a retry (or the same command run again
    # with --checkpoints) resumes from the newest complete one.
    checkpoints = args.checkpoints or str(store.run_dir(first_id) / "outputs" / "checkpoints")

    def stop(signum: int, _frame: object) -> None:
        raise _Stop(signum)

    for attempt in range(args.retries + 1):
        env = _checkpoint_env(checkpoints)
        if "PIPETUNE_RESUME_FROM" in env and not args.json:
            print(f"pipetune: resuming from checkpoint {env['PIPETUNE_RESUME_FROM']}", file=sys.stderr)
        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            started = start_run(
                store, engine, component, arguments, timeout=args.timeout,
                echo=not (args.quiet or args.json), env=env,
                run_id=first_id if attempt == 0 else None,
            )
            if not args.quiet and not args.json:
                print(f"run {started.record.id}: {component.name} started", file=sys.stderr)
            try:
                status = engine.wait(started.handle)
            except _Stop as interrupt:
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
                engine.cancel(started.handle)
                record = finish_run(started, engine.poll(started.handle))
                print(
                    f"pipetune: run {record.id} cancelled by {signal.Signals(interrupt.signum).name}",
                    file=sys.stderr,
                )
                return 128 + interrupt.signum
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        record = finish_run(started, status)
        if record.status == "Succeeded" or attempt == args.retries:
            break
        print(f"pipetune: run {record.id} {record.status} ({record.reason}); retry {attempt + 1} of "
              f"{args.retries}", file=sys.stderr)
    if args.json:
        print(json.dumps(_record_json(record), indent=2))
    else:
        print(_summary(record))
    if record.status != "Succeeded":
        raise RunError(f"run {record.id} {record.status} ({record.reason}): {record.message}")
    return 0


def _checkpoint_env(uri: str) -> dict[str, str]:
    """A run's checkpoint variables: where to write, and the newest complete one to resume."""
    from pipetune.checkpoints import CHECKPOINTS_ENV, RESUME_ENV, CheckpointStore

    env = {CHECKPOINTS_ENV: uri}
    latest = CheckpointStore(uri).latest()
    if latest is not None:
        env[RESUME_ENV] = latest.uri
    return env


def _cmd_tune(args: argparse.Namespace) -> int:
    from pipetune.engines.select import open_engine
    from pipetune.experiment import load_experiment
    from pipetune.kinds import EXPERIMENT_LABEL
    from pipetune.tuner.display import failure_notes, progress_line, trials_table
    from pipetune.tuner.session import Session

    experiment = load_experiment(args.experiment)
    if args.local_command is not None:
        experiment = _with_local_command(experiment, args.local_command)
    namespace = experiment.namespace or args.namespace or "default"
    # Checked before the engine connects to anything.
    session = Session.for_experiment(experiment, local=args.engine == "local", seed=args.seed, namespace=namespace)
    config = session.config
    store = RunStore(args.state_dir)
    directory = Path(args.dir) if args.dir else store.state_dir / "experiments" / experiment.name
    live = sys.stderr.isatty()
    last = [""]

    def show(progress: Any) -> None:
        if args.quiet:
            return
        line = progress_line(progress)
        if live:
            print("\r\033[K" + line, end="", file=sys.stderr, flush=True)
        elif line != last[0] and progress.event != "started" and "started" not in progress.event:
            print(line, file=sys.stderr, flush=True)
        last[0] = line

    def stop(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    engine = open_engine(args.engine, namespace, {EXPERIMENT_LABEL: experiment.name}, args.context,
                         None if args.quiet else sys.stderr)
    previous = signal.signal(signal.SIGTERM, stop)
    tuner = session.tuner(engine, store, directory, progress=show, checkpoints=args.checkpoints)
    if not args.quiet:
        print(
            f"experiment {experiment.name}: {config.budget.max_trials} trials, "
            f"{config.budget.parallel} at a time, algorithm {config.algorithm}, seed {config.seed}; "
            f"directory {_short_path(str(directory))}",
            file=sys.stderr,
        )
    try:
        result = tuner.run()
    except KeyboardInterrupt:
        if live:
            print(file=sys.stderr)
        print(
            f"pipetune: interrupted; every running trial was stopped. Run the same command to resume "
            f"from {_short_path(str(directory))}",
            file=sys.stderr,
        )
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
        engine.close()
    if live and not args.quiet:
        print(file=sys.stderr)
    best = result.best
    print(trials_table(result.trials, result.objective, best))
    for note in failure_notes(result.trials):
        print(note)
    print()
    print(f"experiment {experiment.name} {result.state.status} ({result.state.reason}): {result.state.message}")
    if best is not None:
        print(f"best {result.objective.metric} {best.objective:.6g} (trial {best.index}, run {best.run_id})")
        for name, value in best.assignment.items():
            print(f"  {name}: {_value(value)}")
    print(f"results  {_short_path(str(directory / 'results.yaml'))}")
    return 0 if result.state.status == "Succeeded" else 1


def _with_local_command(experiment: Any, text: str) -> Any:
    import dataclasses
    import shlex

    from pipetune.experiment import LocalOverride

    try:
        argv = shlex.split(text)
    except ValueError as exc:
        raise UsageError(f"--local-command: {exc}") from None
    if not argv:
        raise UsageError("--local-command: expected a command line, got nothing")
    env = dict(experiment.local.env) if experiment.local else {}
    return dataclasses.replace(experiment, local=LocalOverride(tuple(argv), (), env))


def _cmd_plot(args: argparse.Namespace) -> int:
    from pipetune.plots import plot_experiment

    for path in plot_experiment(args.experiment_dir, args.out):
        print(_short_path(str(path)))
    return 0


def _cmd_exec(args: argparse.Namespace) -> int:
    from pipetune.publisher import main_exec

    cmd = list(args.cmd)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    return main_exec(cmd, args.termination_message_path, args.kfp_executor_input)


def _cmd_checkpoints_list(args: argparse.Namespace) -> int:
    from pipetune.checkpoints import CheckpointStore
    from pipetune.checkpoints._entities import find_entities

    rows = [["ENTITY", "CHECKPOINT", "STEP", "SIZE", "AGE", "COMPLETE", "METADATA"]]
    now = time.time()
    starred = False
    for entity in find_entities(args.target, RunStore(args.state_dir)):
        for info in CheckpointStore(entity.uri).list():
            if args.json:
                print(json.dumps({"entity": entity.name, "name": info.name, "uri": info.uri,
                                  "step": info.step, "size": info.size, "created": info.created,
                                  "complete": info.complete, "problem": info.problem,
                                  "metadata": dict(info.metadata)}, sort_keys=True))
                continue
            starred = starred or info.name in entity.protect
            rows.append([
                entity.name,
                info.name + (" *" if info.name in entity.protect else ""),
                "-" if info.step is None else str(info.step),
                _size(info.size),
                _age(now - info.created) if info.created else "-",
                "yes" if info.complete else f"no ({info.problem or 'no marker'})",
                json.dumps(dict(info.metadata), sort_keys=True) if info.metadata else "",
            ])
    if not args.json:
        if len(rows) == 1:
            print(f"no checkpoints in {args.target}")
        else:
            print(_table(rows))
            if starred:
                print("* results.yaml points at it")
    return 0


def _cmd_checkpoints_gc(args: argparse.Namespace) -> int:
    from pipetune.checkpoints import CheckpointInfo, CheckpointStore, Retention
    from pipetune.checkpoints._entities import find_entities

    retention = Retention(args.keep_last, args.keep_best, args.metric, args.mode)
    total = 0
    for entity in find_entities(args.target, RunStore(args.state_dir)):
        store = CheckpointStore(entity.uri, retention)
        plan = store.plan_collection(set(entity.protect), args.stale_seconds)
        for item in plan:
            what = f"{item.name} ({'complete' if item.complete else 'incomplete'}, " \
                f"{_size(item.size)})" if isinstance(item, CheckpointInfo) else f"{item} (abandoned save)"
            print(f"{'removed' if args.apply else 'would remove'}  {entity.name}  {what}")
        if args.apply:
            store.collect(set(entity.protect), args.stale_seconds)
        total += len(plan)
    verb = "removed" if args.apply else "would remove"
    print(f"{verb} {total} item(s)" + ("" if args.apply or not total else "; run again with --apply"))
    return 0


def _size(size: int | None) -> str:
    if size is None:
        return "-"
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024  # type: ignore[assignment]
    return "-"


def _age(seconds: float) -> str:
    for unit, length in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= length:
            return f"{seconds / length:.0f}{unit}"
    return f"{seconds:.0f}s"


def _cmd_runs_list(args: argparse.Namespace) -> int:
    store = RunStore(args.state_dir)
    # Experiments and pipelines come with their children listed under them, oldest first.
    records: list[tuple[RunRecord, bool]] = []
    for record in store.list(limit=args.limit or None, top_level=True):
        records.append((record, False))
        for child in reversed(store.list(parent_id=record.id)):
            records.append((child, True))
    if args.json:
        for record, _child in records:
            print(json.dumps(_record_json(record)))
        return 0
    if not records:
        print(f"no runs recorded in {store.path}", file=sys.stderr)
        return 0
    rows = [["RUN", "COMPONENT", "STATUS", "STARTED", "DURATION", "METRICS"]]
    for record, child in records:
        rows.append(
            [
                ("  " if child else "") + record.id,
                record.component,
                record.status,
                _time(record.started_at or record.created_at),
                _duration(record.duration),
                _metrics_inline(record.metrics, limit=3),
            ]
        )
    print(_table(rows))
    return 0


def _cmd_runs_show(args: argparse.Namespace) -> int:
    record = RunStore(args.state_dir).get(args.run_id)
    if args.json:
        print(json.dumps(_record_json(record), indent=2))
        return 0
    lines = [
        ("run", record.id),
        ("component", f"{record.component}" + (f"  ({record.component_path})" if record.component_path else "")),
        ("engine", record.engine),
        ("status", record.status + (f" ({record.reason})" if record.reason else "")),
    ]
    if record.message:
        lines.append(("message", record.message))
    if record.parent_id:
        lines.append(("parent", record.parent_id))
    lines += [
        ("started", _time(record.started_at)),
        ("finished", _time(record.finished_at)),
        ("duration", _duration(record.duration)),
        ("exit code", "-" if record.exit_code is None else str(record.exit_code)),
        ("outputs dir", record.outputs_dir or "-"),
        ("command", " ".join(record.command) if record.command else "-"),
    ]
    width = max(len(key) for key, _ in lines)
    out = [f"{key:<{width}}  {value}" for key, value in lines]
    for title, values in (
        ("parameters", record.parameters),
        ("metrics", record.metrics),
        ("outputs", record.outputs),
    ):
        out.append(f"{title}:" if values else f"{title}: -")
        for name, value in (values or {}).items():
            out.append(f"  {name}: {_value(value)}")
    print("\n".join(out))
    return 0


def _catalog_root(args: argparse.Namespace) -> Path:
    root = Path(args.root)
    if not root.is_dir():
        raise UsageError(f"{root}: not a directory; expected the catalog folder (components/)")
    return root


def _cmd_catalog_check(args: argparse.Namespace) -> int:
    from pipetune.components._catalog import catalog_folders, check_catalog

    root = _catalog_root(args)
    problems = check_catalog(root)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"pipetune: catalog check: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"catalog {root}: {len(catalog_folders(root))} component(s), all valid")
    return 0


def _cmd_catalog_generate(args: argparse.Namespace) -> int:
    from pipetune.components._catalog import catalog_folders, generate_tasks

    root = _catalog_root(args)
    changed = generate_tasks(root)
    for path in changed:
        print(f"wrote {path}")
    print(f"catalog {root}: {len(catalog_folders(root))} task(s), {len(changed)} changed")
    return 0


def _cmd_pipeline_run(args: argparse.Namespace) -> int:
    from pipetune.engines.local import LocalEngine
    from pipetune.pipeline import bind_parameters, kfp_plan, run_plan
    from pipetune.pipeline._run import run_steps
    from pipetune.pipeline._tekton import TektonSteps, bind_tekton_parameters, is_tekton, tekton_plan
    from pipetune.yamlsafe import load_yaml_documents, load_yaml_file

    if args.parallel < 1:
        raise UsageError(f"--parallel: expected at least 1, got {args.parallel}")
    path = Path(args.file)
    document = load_yaml_file(path, first=True)
    given = _parse_inputs(args.param)
    store, engine = RunStore(args.state_dir), LocalEngine()
    if is_tekton(document):
        documents = [d for file in [path, *args.file_extra] for d in load_yaml_documents(Path(file))]
        tekton = tekton_plan(documents, str(path))
        values = bind_tekton_parameters(tekton, given)
        result = run_steps(tekton, TektonSteps(tekton, values), values, store, engine, parallel=args.parallel)
    else:
        plan = kfp_plan(document, str(path))
        result = run_plan(plan, bind_parameters(plan, given), store, engine, parallel=args.parallel)
    return 0 if result.succeeded else 1


def _cmd_controller(args: argparse.Namespace) -> int:
    import logging

    from pipetune.controller import Controller
    from pipetune.controller._operator import run_operator
    from pipetune.engines.kubernetes import api_client
    from pipetune.engines.select import current_namespace

    if args.workers < 1:
        raise UsageError(f"--workers: expected at least 1, got {args.workers}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    api = api_client(args.context, purpose="pipetune controller")
    namespaces = [] if args.all_namespaces else (args.namespace or [current_namespace()])
    where = "every namespace" if not namespaces else ", ".join(namespaces)
    print(f"pipetune controller: watching {where}", file=sys.stderr, flush=True)
    login = None
    if args.context:
        import kopf

        def login(**kwargs: Any) -> Any:  # the kubeconfig context chosen, not kopf's default one
            from kubernetes import config

            config.load_kube_config(context=args.context)
            return kopf.login_via_client(**kwargs)

    run_operator(Controller(api, workers=args.workers, resync=args.resync), namespaces, login=login)
    return 0


def _cmd_step(args: argparse.Namespace) -> int:
    from pipetune.catalog import component_file
    from pipetune.components import load_component, resolve_command
    from pipetune.contract import outputs_dir
    from pipetune.publisher import PublishOptions, default_options, execute, unwrap

    path = Path(args.component)
    spec = load_component(path if path.suffix in (".yaml", ".yml") or path.is_dir() else component_file(args.component))
    values = _parse_inputs(args.input)
    for item in spec.inputs:
        if item.optional and values.get(item.name) == "":
            values.pop(item.name)  # Tekton params always have a value: "" stands for absent
    arguments = spec.bind(values)
    outputs = outputs_dir()
    paths = {output.name: str(outputs / output.name) for output in spec.outputs}
    # This step publishes itself (Tekton results): the component's own command, unwrapped
    # from its publisher prefix, runs under it.
    argv = unwrap(resolve_command(spec, arguments, paths))
    options = default_options()
    if args.tekton_results:
        from pipetune.tekton._task import kfp_only

        declared = tuple((o.name, o.is_parameter, Path(paths[o.name])) for o in spec.outputs if not kfp_only(o))
        options = PublishOptions(options.termination_message_path, Path(args.tekton_results), declared)
    return execute(argv, options)


def _summary(record: RunRecord) -> str:
    head = f"run {record.id}  {record.component}  {record.status}  {_duration(record.duration)}"
    lines = [head]
    if record.status != "Succeeded" and record.message:
        lines.append(f"  reason   {record.reason}: {record.message}")
    if record.metrics:
        width = max(len(name) for name in record.metrics)
        lines.append("  metrics")
        for name, value in record.metrics.items():
            lines.append(f"    {name:<{width}}  {_value(value)}")
    if record.outputs_dir:
        lines.append(f"  outputs  {_short_path(record.outputs_dir)}")
    return "\n".join(lines)


def _short_path(path: str) -> str:
    """``path`` relative to the working directory when it lies below it."""
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return path


def _record_json(record: RunRecord) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(record)


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def _metrics_inline(metrics: dict[str, float] | None, limit: int) -> str:
    if not metrics:
        return ""
    items = [f"{name}={_value(value)}" for name, value in list(metrics.items())[:limit]]
    return " ".join(items) + (" ..." if len(metrics) > limit else "")


def _time(stamp: float | None) -> str:
    if stamp is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp))


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(seconds, 60)
    if minutes < 60:
        return f"{int(minutes)}m{int(rest):02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{int(hours)}h{int(minutes):02d}m"


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows
    )
