"""The dashboard's JSON API: a request (path and query) in, a ``Reply`` out. No sockets here.

Every endpoint reads a ``tracking.Source``: a state directory (its run store and the
experiments' journals) or a cluster's namespace, in the same JSON; none writes. A malformed
query is a 400 with one message naming the parameter and what it expects; an unknown run or
experiment a 404; a log or file path outside the run's folders a 403.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from pipetune.errors import PipetuneError, UsageError
from pipetune.store import ORDERS, STATUSES, RunQuery, RunRecord, RunStore
from pipetune.tracking import (
    ExperimentView,
    LocalSource,
    NotFound,
    Refused,
    Source,
    is_experiment,
    is_pipeline,
    parse_since,
)
from pipetune.tuner.journal import TrialState
from pipetune.views import curves_of, figures, intermediate_figure

#: The most runs one list answers with.
MAX_LIMIT = 5000
#: The most lines a log tail answers with.
MAX_TAIL = 100_000
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


def trial_json(trial: TrialState, record: RunRecord | None) -> dict[str, Any]:
    """One trial as the trials table shows it; ``record`` its latest run (whose id links it:
    a local run id, or a trial resource's name on a cluster)."""
    return {
        "index": trial.index,
        "status": trial.status.value,
        "parameters": trial.assignment,
        "objective": _finite(trial.objective),
        "metrics": {k: _finite(v) for k, v in trial.metrics.items()},
        "reason": trial.reason,
        "message": trial.message,
        "attempts": trial.attempt + 1,
        "run_id": record.id if record else trial.run_id,
        "started": record.started_at if record else None,
        "duration": record.duration if record else None,
    }


def _finite(value: float | None) -> float | None:
    return value if value is None or math.isfinite(value) else None


def summary_json(view: ExperimentView, trial_ids: Mapping[int, str] | None = None) -> dict[str, Any]:
    """An experiment as the experiments list shows it; ``trial_ids`` each trial's run id,
    where it is not the journal's (a cluster's trial resources)."""
    best = view.best
    return {
        "id": view.id,
        "name": view.name,
        "status": view.status,
        # The journal's reason once it ended, else the experiment's run's (a cluster parent's
        # condition: a CustomRun that timed out before its tuner wrote a word).
        "reason": (view.state.reason if view.state else None) or view.record.reason,
        "message": (view.state.message if view.state else view.problem) or view.record.message,
        "algorithm": view.algorithm,
        "metric": view.state.metric if view.state else None,
        "minimize": view.state.minimize if view.state else None,
        "parameters": list(view.state.parameters) if view.state else [],
        "trials": len(view.trials),
        "done": view.done,
        "counts": dict(view.counts),
        "best": None if best is None else {"index": best.index, "objective": _finite(best.objective),
                                           "parameters": best.assignment,
                                           "run_id": (trial_ids or {}).get(best.index, best.run_id)},
        "started": view.started,
        "duration": view.duration(),
        "directory": str(view.directory) if view.directory else None,
        "resource": view.resource,
        "problem": view.problem,
    }


class Api:
    """The endpoints over one ``Source`` (a path: a state directory's ``LocalSource``)."""

    def __init__(self, source: Source | str | os.PathLike[str]) -> None:
        self.source: Source = LocalSource(source) if isinstance(source, (str, os.PathLike)) else source
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

    @property
    def store(self) -> RunStore:
        """The run store the runs are queried in (a cluster's: its scratch mirror)."""
        return self.source.store

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
        except Refused as exc:
            return error_reply(403, str(exc))
        except NotFound as exc:
            return error_reply(404, str(exc))
        except UsageError as exc:
            text = str(exc)
            return error_reply(404 if text.startswith(("no run", "no experiment")) else 400, text)
        except PipetuneError as exc:
            return error_reply(500, str(exc))

    def refuse_write(self, method: str) -> Reply:
        """Every write (POST, PUT, PATCH, DELETE) is refused: 405, saying why."""
        return error_reply(405, f"{method} refused: {self.source.read_only}")

    # -- endpoints --------------------------------------------------------------------------

    def state(self, query: Query) -> Reply:
        return json_reply({"engine": self.source.engine, "where": self.source.where,
                           "state_dir": str(self.store.state_dir) if self.source.engine == "local" else None,
                           "read_only": self.source.read_only, "runs": self.store.count(),
                           "statuses": list(STATUSES), "sorts": list(ORDERS)})

    def experiments(self, query: Query) -> Reply:
        views = self.source.experiments()
        return json_reply({"experiments": [summary_json(v, self._trial_ids(v)) for v in views]})

    def _trial_ids(self, view: ExperimentView) -> dict[int, str] | None:
        if self.source.engine == "local":
            return None  # the journal's run ids are the store's
        return {index: record.id for index, record in self.source.trial_records(view).items()}

    def view(self, experiment_id: str) -> ExperimentView:
        view = self.source.experiment(experiment_id)
        if view is None:
            raise ApiError(404, f"no experiment {experiment_id!r} in {self.source.where}")
        return view

    def experiment(self, experiment_id: str, query: Query) -> Reply:
        """The experiment, its trials and (unless ``figures=0``) every view as a Plotly
        figure; cached until the journal, the store or a running trial's results change."""
        with_figures = query.flag("figures") if query.text("figures") is not None else True
        view = self.view(experiment_id)
        key = (self.source.fingerprint(view), with_figures)
        with self._lock:
            cached = self._details.get(experiment_id)
            if cached is not None and cached[0] == key:
                return cached[1]
        records = self.source.trial_records(view)
        data: dict[str, Any] = {"experiment": summary_json(view, {i: r.id for i, r in records.items()}),
                                "trials": [trial_json(t, records.get(t.index)) for t in view.trials]}
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
        """Each trial's intermediate values (its journaled curve, else its reported history),
        as the intermediate-values figure and as data."""
        view = self.view(experiment_id)
        metric = view.state.metric if view.state else None
        curves = self.source.curves(view) if metric else {}
        figure = intermediate_figure(curves_of(view.trials, curves), metric or "objective")
        return json_reply({"figure": figure, "curves": {str(k): v for k, v in curves.items()}})

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
        self.source.refresh()
        found = self.store.query(replace(filtered, limit=offset + limit + 1))
        page = found[offset:offset + limit]
        trials = self.source.trials(page)
        return json_reply({"runs": [run_json(r, trials.get(r.id)) for r in page],
                           "more": len(found) > offset + limit, "offset": offset, "limit": limit})

    def record(self, run_id: str) -> RunRecord:
        self.source.refresh()
        record = self.store.find(run_id)
        if record is None:
            raise ApiError(404, f"no run {run_id!r} in {self.source.where}")
        return record

    def run(self, run_id: str, query: Query) -> Reply:
        record = self.record(run_id)
        trial = self.source.trials([record]).get(record.id)
        children = self.store.children([record.id]).get(record.id, [])
        child_trials = self.source.trials(children)
        return json_reply({
            "run": run_json(record, trial),
            "history": self.source.history(record),
            "results": self.source.results(record),
            "logs": self.source.logs(record),
            "files": self.source.files(record),
            "files_note": self.source.files_note(record),
            "children": [run_json(c, child_trials.get(c.id)) for c in children],
            "experiment": record.parent_id if trial is not None else None,
        })

    def log(self, run_id: str, name: str, query: Query) -> Reply:
        record = self.record(run_id)
        tail = query.integer("tail", 0, 0, MAX_TAIL)
        download = query.flag("download")
        data = self.source.log(record, name, tail)
        headers = {"X-Content-Type-Options": "nosniff"}
        if download:
            headers["Content-Disposition"] = f'attachment; filename="{record.id}-{Path(name).name}"'
        return Reply(200, data, "text/plain; charset=utf-8", headers)

    def file(self, run_id: str, name: str, query: Query) -> Reply:
        record = self.record(run_id)
        data = self.source.file(record, name)
        # Always a download, never rendered: an output may be HTML written by anyone.
        return Reply(200, data, "application/octet-stream", {
            "Content-Disposition": f'attachment; filename="{Path(name).name}"', "X-Content-Type-Options": "nosniff"})

    def compare(self, query: Query) -> Reply:
        ids = [i for i in (query.text("ids") or "").split(",") if i]
        if len(ids) < 2:
            raise ApiError(400, "query parameter 'ids': expected 2 or more run ids, comma-separated")
        if len(ids) > MAX_COMPARE:
            raise ApiError(400, f"query parameter 'ids': at most {MAX_COMPARE} runs, got {len(ids)}")
        records = [self.record(i) for i in ids]
        trials = self.source.trials(records)

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

        histories = {r.id: self.source.history(r) for r in records}
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


def _pipeline_graph(folder: Path) -> dict[str, dict[str, Any]]:
    """The task graph a pipeline run recorded (``pipeline.json``: tasks by name, each with
    ``needs`` and ``run_id``), or {} for a pipetune that records none."""
    try:
        data = json.loads((folder / "pipeline.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    tasks = data.get("tasks") if isinstance(data, dict) else None
    return {str(k): v for k, v in tasks.items() if isinstance(v, dict)} if isinstance(tasks, dict) else {}
