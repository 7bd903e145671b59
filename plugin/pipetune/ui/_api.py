"""The dashboard's JSON API: a request (path and query) in, a ``Reply`` out. No sockets here.

Every endpoint reads the run store (read-only) and the experiments' journals; none writes.
A malformed query is a 400 with one message naming the parameter and what it expects; an
unknown run or experiment a 404; a log or file path outside the run's folders a 403.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from pipetune.contract import read_results
from pipetune.errors import PipetuneError, UsageError
from pipetune.store import ORDERS, STATUSES, RunQuery, RunRecord, RunStore
from pipetune.tracking import (
    ExperimentView,
    Histories,
    Journals,
    experiment_view,
    experiments,
    is_experiment,
    is_pipeline,
    parse_since,
    trial_curves,
    trial_index,
)
from pipetune.tuner.journal import TrialState
from pipetune.views import curves_of, figures, intermediate_figure

#: The most runs one list answers with.
MAX_LIMIT = 5000
#: The most lines a log tail answers with.
MAX_TAIL = 100_000
#: The most files a run's listing shows.
MAX_FILES = 1000
#: The most runs one comparison takes.
MAX_COMPARE = 20


@dataclass
class Reply:
    """An HTTP answer: status, content type, body, extra headers."""

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


class ApiError(Exception):
    """A request the API refuses: its status and one message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def json_reply(data: Any, status: int = 200) -> Reply:
    body = json.dumps(data, default=_plain, allow_nan=False).encode()
    return Reply(status, body, headers={"ETag": '"' + hashlib.sha1(body).hexdigest()[:20] + '"'})


def error_reply(status: int, message: str) -> Reply:
    return Reply(status, json.dumps({"error": message, "status": status}).encode())


def _plain(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (set, tuple)):
        return list(value)
    raise TypeError(f"not JSON: {type(value).__name__}")


class Query:
    """A request's query parameters, checked: each read names the parameter in its error, and
    ``done`` refuses any parameter no read asked for."""

    def __init__(self, params: Mapping[str, Sequence[str]], allowed: Sequence[str]) -> None:
        for name, values in params.items():
            if name not in allowed:
                expected = ", ".join(allowed) if allowed else "none"
                raise ApiError(400, f"unknown query parameter {name!r}; this endpoint takes: {expected}")
            if len(values) > 1:
                raise ApiError(400, f"query parameter {name!r} given {len(values)} times; give it once")
        self.params = {name: values[0] for name, values in params.items()}

    def text(self, name: str) -> str | None:
        value = self.params.get(name)
        return value if value not in (None, "") else None

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        text = self.text(name)
        if text is None:
            return default
        try:
            value = int(text)
        except ValueError:
            raise ApiError(400, f"query parameter {name!r}: expected a whole number, got {text!r}") from None
        if not low <= value <= high:
            raise ApiError(400, f"query parameter {name!r}: expected {low} to {high}, got {value}")
        return value

    def flag(self, name: str) -> bool:
        text = self.text(name)
        if text is None:
            return False
        if text in ("1", "true", "yes"):
            return True
        if text in ("0", "false", "no"):
            return False
        raise ApiError(400, f"query parameter {name!r}: expected 1 or 0, got {text!r}")


def run_json(record: RunRecord, trial: TrialState | None = None) -> dict[str, Any]:
    data = asdict(record)
    data["duration"] = record.duration
    data["kind"] = "experiment" if is_experiment(record) else "pipeline" if is_pipeline(record) else (
        "trial" if trial is not None else "child" if record.parent_id else "run")
    if trial is not None:
        data["trial"] = {"index": trial.index, "status": trial.status.value, "parameters": trial.assignment}
    return data


def trial_json(trial: TrialState, runs: Mapping[str, RunRecord]) -> dict[str, Any]:
    record = runs.get(trial.run_id or "")
    return {
        "index": trial.index,
        "status": trial.status.value,
        "parameters": trial.assignment,
        "objective": _finite(trial.objective),
        "metrics": {k: _finite(v) for k, v in trial.metrics.items()},
        "reason": trial.reason,
        "message": trial.message,
        "attempts": trial.attempt + 1,
        "run_id": trial.run_id,
        "started": record.started_at if record else None,
        "duration": record.duration if record else None,
    }


def _finite(value: float | None) -> float | None:
    return value if value is None or math.isfinite(value) else None


def summary_json(view: ExperimentView) -> dict[str, Any]:
    best = view.best
    return {
        "id": view.id,
        "name": view.name,
        "status": view.status,
        "reason": view.state.reason if view.state else None,
        "message": view.state.message if view.state else view.problem,
        "algorithm": view.algorithm,
        "metric": view.state.metric if view.state else None,
        "minimize": view.state.minimize if view.state else None,
        "parameters": list(view.state.parameters) if view.state else [],
        "trials": len(view.trials),
        "done": view.done,
        "counts": dict(view.counts),
        "best": None if best is None else {"index": best.index, "objective": _finite(best.objective),
                                           "parameters": best.assignment, "run_id": best.run_id},
        "started": view.started,
        "duration": view.duration(),
        "directory": str(view.directory) if view.directory else None,
        "problem": view.problem,
    }


class Api:
    """The endpoints over one state directory."""

    def __init__(self, state_dir: str | os.PathLike[str]) -> None:
        self.store = RunStore(state_dir)
        self.journals = Journals()
        self.histories = Histories()
        self._lock = threading.Lock()
        self._details: dict[str, tuple[Any, Reply]] = {}
        self.routes: list[tuple[tuple[str, ...], Callable[..., Reply], tuple[str, ...]]] = [
            (("api", "state"), self.state, ()),
            (("api", "experiments"), self.experiments, ()),
            (("api", "experiments", "*"), self.experiment, ("figures",)),
            (("api", "experiments", "*", "intermediate"), self.intermediate, ()),
            (("api", "runs"), self.runs, ("status", "component", "experiment", "parent", "since", "q", "sort",
                                          "limit", "offset", "top")),
            (("api", "runs", "*"), self.run, ()),
            (("api", "runs", "*", "logs", "**"), self.log, ("tail", "download")),
            (("api", "runs", "*", "files", "**"), self.file, ()),
            (("api", "compare"), self.compare, ("ids",)),
            (("api", "pipelines", "*"), self.pipeline, ()),
        ]

    # -- dispatch ---------------------------------------------------------------------------

    def handle(self, parts: Sequence[str], params: Mapping[str, Sequence[str]]) -> Reply:
        """The reply to ``GET /<parts...>?<params>``; every failure a JSON error reply."""
        try:
            for pattern, endpoint, allowed in self.routes:
                captured = _match(pattern, parts)
                if captured is not None:
                    return endpoint(*captured, query=Query(params, allowed))
            raise ApiError(404, f"no such endpoint: /{'/'.join(parts)}")
        except ApiError as exc:
            return error_reply(exc.status, exc.message)
        except UsageError as exc:
            text = str(exc)
            return error_reply(404 if text.startswith(("no run", "no experiment")) else 400, text)
        except PipetuneError as exc:
            return error_reply(500, str(exc))

    # -- endpoints --------------------------------------------------------------------------

    def state(self, query: Query) -> Reply:
        return json_reply({"state_dir": str(self.store.state_dir), "runs": self.store.count(),
                           "statuses": list(STATUSES), "sorts": list(ORDERS)})

    def experiments(self, query: Query) -> Reply:
        return json_reply({"experiments": [summary_json(v) for v in experiments(self.store, self.journals)]})

    def view(self, experiment_id: str) -> ExperimentView:
        record = self.store.find(experiment_id)
        if record is None or not is_experiment(record):
            raise ApiError(404, f"no experiment {experiment_id!r} in {self.store.path}")
        return experiment_view(record, self.journals)

    def experiment(self, experiment_id: str, query: Query) -> Reply:
        """The experiment, its trials and (unless ``figures=0``) every view as a Plotly
        figure; cached until the journal, the store or a running trial's results change."""
        with_figures = query.flag("figures") if query.text("figures") is not None else True
        view = self.view(experiment_id)
        key = (self._fingerprint(view), with_figures)
        with self._lock:
            cached = self._details.get(experiment_id)
            if cached is not None and cached[0] == key:
                return cached[1]
        runs = {r.id: r for r in self.store.children([view.id]).get(view.id, [])}
        data: dict[str, Any] = {"experiment": summary_json(view),
                                "trials": [trial_json(t, runs) for t in view.trials]}
        if with_figures and view.state is not None and view.state.metric:
            # Without the intermediate values: they mean reading every trial's results.yaml
            # (seconds at 2,000 trials, cold), so they come from their own endpoint and the
            # first plots don't wait for them.
            data["figures"] = figures(view.trials, view.state.parameters, view.state.metric, view.state.minimize,
                                      {}, intermediate=False)
        reply = json_reply(data)
        with self._lock:
            self._details[experiment_id] = (key, reply)
        return reply

    def intermediate(self, experiment_id: str, query: Query) -> Reply:
        """Each trial's intermediate values (its journaled curve, else its results' history),
        as the intermediate-values figure and as data."""
        view = self.view(experiment_id)
        metric = view.state.metric if view.state else None
        curves = trial_curves(view, self.store, self.histories) if metric else {}
        figure = intermediate_figure(curves_of(view.trials, curves), metric or "objective")
        return json_reply({"figure": figure, "curves": {str(k): v for k, v in curves.items()}})

    def _fingerprint(self, view: ExperimentView) -> tuple[Any, ...]:
        parts: list[Any] = [_stat(self.store.path), _stat(self.store.path.with_name("runs.db-wal"))]
        if view.directory:
            parts.append(_stat(view.directory / "journal.jsonl"))
        for trial in view.trials:
            if not trial.status.final and trial.run_id:
                parts.append(_stat(self.store.run_dir(trial.run_id) / "outputs" / "results.yaml"))
        if view.record.status == "Running":
            parts.append(int(time.time()) // 5)  # durations shown move on
        return tuple(parts)

    def runs(self, query: Query) -> Reply:
        statuses = tuple(s for s in (query.text("status") or "").split(",") if s)
        sort = query.text("sort") or "created"
        order, metric = (sort, None) if not sort.startswith("metric:") else ("created", sort.removeprefix("metric:"))
        if order not in ORDERS:
            raise ApiError(400, f"query parameter 'sort': expected one of {', '.join(ORDERS)} or metric:NAME, "
                           f"got {sort!r}")
        unknown = [s for s in statuses if s not in STATUSES]
        if unknown:
            raise ApiError(400, f"query parameter 'status': expected one of {', '.join(STATUSES)}, got {unknown[0]!r}")
        since = query.text("since")
        try:
            since_time = parse_since(since, what="query parameter 'since'") if since else None
        except UsageError as exc:
            raise ApiError(400, str(exc)) from None
        limit = query.integer("limit", 200, 1, MAX_LIMIT)
        offset = query.integer("offset", 0, 0, 10**9)
        filtered = RunQuery(
            status=statuses, component=query.text("component"), experiment=query.text("experiment"),
            parent_id=query.text("parent"), top_level=query.flag("top"), since=since_time,
            search=query.text("q"), order=order, metric=metric,
        )
        found = self.store.query(replace(filtered, limit=offset + limit + 1))
        page = found[offset:offset + limit]
        trials = trial_index(self.store, page, self.journals)
        return json_reply({"runs": [run_json(r, trials.get(r.id)) for r in page],
                           "more": len(found) > offset + limit, "offset": offset, "limit": limit})

    def record(self, run_id: str) -> RunRecord:
        record = self.store.find(run_id)
        if record is None:
            raise ApiError(404, f"no run {run_id!r} in {self.store.path}")
        return record

    def run(self, run_id: str, query: Query) -> Reply:
        record = self.record(run_id)
        trial = trial_index(self.store, [record], self.journals).get(record.id)
        outputs = Path(record.outputs_dir) if record.outputs_dir else None
        history: list[dict[str, float]] = []
        results: dict[str, Any] | None = None
        if outputs is not None and not is_experiment(record):
            history = self.histories.history(outputs)
            results = _results(outputs)
        children = self.store.children([record.id]).get(record.id, [])
        child_trials = trial_index(self.store, children, self.journals)
        return json_reply({
            "run": run_json(record, trial),
            "history": history,
            "results": results,
            "logs": _listing(self.store.run_dir(record.id) / "logs", MAX_FILES),
            "files": _listing(outputs, MAX_FILES) if outputs is not None and not is_experiment(record) else [],
            "children": [run_json(c, child_trials.get(c.id)) for c in children],
            "experiment": record.parent_id if trial is not None else None,
        })

    def log(self, run_id: str, name: str, query: Query) -> Reply:
        record = self.record(run_id)
        folder = self.store.run_dir(record.id) / "logs"
        path = _contained(folder, name, "log")
        tail = query.integer("tail", 0, 0, MAX_TAIL)
        download = query.flag("download")
        data = _tail(path, tail) if tail else path.read_bytes()
        headers = {"X-Content-Type-Options": "nosniff"}
        if download:
            headers["Content-Disposition"] = f'attachment; filename="{record.id}-{Path(name).name}"'
        return Reply(200, data, "text/plain; charset=utf-8", headers)

    def file(self, run_id: str, name: str, query: Query) -> Reply:
        record = self.record(run_id)
        if not record.outputs_dir:
            raise ApiError(404, f"run {record.id} has no outputs directory")
        path = _contained(Path(record.outputs_dir), name, "file")
        # Always a download, never rendered: an output may be HTML written by anyone.
        return Reply(200, path.read_bytes(), "application/octet-stream", {
            "Content-Disposition": f'attachment; filename="{Path(name).name}"', "X-Content-Type-Options": "nosniff"})

    def compare(self, query: Query) -> Reply:
        ids = [i for i in (query.text("ids") or "").split(",") if i]
        if len(ids) < 2:
            raise ApiError(400, "query parameter 'ids': expected 2 or more run ids, comma-separated")
        if len(ids) > MAX_COMPARE:
            raise ApiError(400, f"query parameter 'ids': at most {MAX_COMPARE} runs, got {len(ids)}")
        records = [self.record(i) for i in ids]
        trials = trial_index(self.store, records, self.journals)

        def table(get: Callable[[RunRecord], Mapping[str, Any] | None]) -> list[dict[str, Any]]:
            names: list[str] = []
            for record in records:
                for name in get(record) or {}:
                    if name not in names:
                        names.append(name)
            rows = []
            for name in names:
                values = [(get(r) or {}).get(name) for r in records]
                rows.append({"name": name, "values": values,
                             "differs": len({json.dumps(v, sort_keys=True, default=str) for v in values}) > 1})
            return rows

        def parameters(record: RunRecord) -> Mapping[str, Any]:
            trial = trials.get(record.id)
            return trial.assignment if trial is not None else record.parameters

        histories = {r.id: self.histories.history(Path(r.outputs_dir)) if r.outputs_dir and not is_experiment(r) else []
                     for r in records}
        return json_reply({"runs": [run_json(r, trials.get(r.id)) for r in records],
                           "parameters": table(parameters), "metrics": table(lambda r: r.metrics),
                           "histories": histories})

    def pipeline(self, run_id: str, query: Query) -> Reply:
        record = self.record(run_id)
        if not is_pipeline(record):
            raise ApiError(404, f"run {record.id} is not a pipeline run (it is {record.component})")
        children = self.store.children([record.id]).get(record.id, [])
        graph = _pipeline_graph(self.store.run_dir(record.id))
        by_run = {c.id: c for c in children}
        tasks = []
        named: dict[str, str] = {}
        for name, spec in graph.items():
            run = by_run.get(str(spec.get("run_id") or ""))
            named[name] = run.id if run else ""
            tasks.append({"name": name, "needs": [str(n) for n in spec.get("needs") or []],
                          "run": run_json(run) if run else None})
        for child in children:
            if child.id not in named.values():
                tasks.append({"name": child.component, "needs": [], "run": run_json(child)})
        return json_reply({"run": run_json(record), "tasks": tasks, "edges_known": bool(graph)})


def _match(pattern: Sequence[str], parts: Sequence[str]) -> list[str] | None:
    """The captured parts when ``parts`` fits ``pattern`` (``*`` one part, ``**`` the rest)."""
    captured: list[str] = []
    for i, want in enumerate(pattern):
        if want == "**":
            rest = parts[i:]
            if not rest:
                return None
            captured.append("/".join(rest))
            return captured
        if i >= len(parts):
            return None
        if want == "*":
            captured.append(parts[i])
        elif want != parts[i]:
            return None
    return captured if len(parts) == len(pattern) else None


def _stat(path: Path) -> tuple[int, int]:
    try:
        info = path.stat()
    except OSError:
        return (0, 0)
    return (info.st_size, info.st_mtime_ns)


def _contained(folder: Path, name: str, what: str) -> Path:
    """``folder/name``, refused (403) unless it is a file inside ``folder`` once every link is
    followed; ``..``, absolute paths and NUL bytes are refused before any lookup."""
    pieces = name.split("/")
    if "\x00" in name or name.startswith("/") or any(p in ("", ".", "..") for p in pieces) or "\\" in name:
        raise ApiError(403, f"{what} path {name!r} refused: expected a path inside the run's folder, "
                       "without '..' or a leading '/'")
    try:
        root = Path(os.path.realpath(folder))
        target = Path(os.path.realpath(folder / name))
        target.relative_to(root)
    except ValueError:
        raise ApiError(403, f"{what} path {name!r} refused: it leads outside the run's folder") from None
    if not target.is_file():
        raise ApiError(404, f"no {what} {name!r} in this run")
    return target


def _tail(path: Path, lines: int) -> bytes:
    """The last ``lines`` lines, reading backwards in blocks (a log may be huge)."""
    with open(path, "rb") as handle:
        end = handle.seek(0, os.SEEK_END)
        position, data = end, b""
        while position > 0 and data.count(b"\n") <= lines:
            step = min(65536, position)
            position -= step
            handle.seek(position)
            data = handle.read(step) + data
    kept = data.split(b"\n")
    if kept and kept[-1] == b"":
        kept = kept[:-1]
        return b"\n".join(kept[-lines:]) + b"\n"
    return b"\n".join(kept[-lines:])


def _listing(folder: Path | None, limit: int) -> list[dict[str, Any]]:
    """Files under ``folder`` (relative paths, sizes), links never followed, at most ``limit``."""
    if folder is None or not folder.is_dir():
        return []
    found = []
    for current, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            path = Path(current) / name
            try:
                info = path.lstat()
            except OSError:
                continue
            if path.is_symlink():
                continue
            found.append({"path": str(path.relative_to(folder)), "size": info.st_size, "modified": info.st_mtime})
            if len(found) >= limit:
                return found
    return found


def _results(outputs: Path) -> dict[str, Any] | None:
    try:
        results = read_results(outputs)
    except PipetuneError:
        return None
    return {"metrics": results.metrics, "outputs": results.outputs, "artifacts": results.artifacts}


def _pipeline_graph(folder: Path) -> dict[str, dict[str, Any]]:
    """The task graph a pipeline run recorded (``pipeline.json``: tasks by name, each with
    ``needs`` and ``run_id``), or {} for a pipetune that records none."""
    try:
        data = json.loads((folder / "pipeline.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    tasks = data.get("tasks") if isinstance(data, dict) else None
    return {str(k): v for k, v in tasks.items() if isinstance(v, dict)} if isinstance(tasks, dict) else {}
