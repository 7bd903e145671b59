"""KFP's own compiled test pipelines (kubeflow/pipelines ``test_data/sdk_compiled_pipelines``,
in ``../shared/fixtures/kfp-compiled``) through ``pipetune pipeline run``, as a user runs them:
each file either runs and ends as its Python says (its tasks' outputs, the branches taken,
success or the intended failure), or is refused before anything runs with the reason it
cannot run here (a cluster, a cloud account, a program only in an image). The expectations,
read from each file's .py, are in ``kfp_compiled_cases``; every file there has one.

Skips cleanly without ../shared (a user's clone)."""

import contextlib
import fcntl
import importlib.metadata
import os
import re
from pathlib import Path

import pytest

from conftest import SHARED
from pipeline.kfp_compiled_cases import CASES, SECRETS, Case
from pipetune.store import RunStore

FIXTURES = SHARED / "fixtures" / "kfp-compiled"

pytestmark = pytest.mark.skipif(not FIXTURES.is_dir(), reason="../shared/fixtures/kfp-compiled is absent")
pytest.importorskip("kfp")


def files() -> list[str]:
    return sorted(str(p.relative_to(FIXTURES)) for p in FIXTURES.rglob("*.yaml")) if FIXTURES.is_dir() else []


def test_every_compiled_file_has_an_expectation_and_most_run():
    assert set(files()) == set(CASES)
    ran = [name for name, case in CASES.items() if case.outcome in ("Succeeded", "Failed")]
    assert len(CASES) == 154 and len(ran) >= 120, len(ran)


@contextlib.contextmanager
def mounts_held(case: Case):
    """Pipelines that mount volumes at fixed paths (/data, /mnt/...) run one at a time, and
    the links they leave are removed."""
    if not case.mounts:
        yield
        return
    with open(Path(os.environ.get("TMPDIR", "/tmp")) / "pipetune-kfp-mounts.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            for mount in case.mounts:
                if Path(mount).is_symlink():
                    Path(mount).unlink()


def installed(distribution: str) -> bool:
    try:
        importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def writable(mount: str) -> bool:
    parent = Path(mount).parent
    while not parent.exists():
        parent = parent.parent
    return os.access(parent, os.W_OK) and not (Path(mount).exists() and not Path(mount).is_symlink())


@pytest.mark.slow
@pytest.mark.parametrize("name", files())
def test_a_compiled_pipeline_runs_as_its_python_says_or_is_refused_up_front(name, cli, state_dir, tmp_path,
                                                                          monkeypatch):
    case = CASES[name]
    if case.outcome == "long":
        pytest.skip(case.why)
    if case.needs and all(installed(n) for n in case.needs):
        pytest.skip(f"{', '.join(case.needs)} installed here: refused only where missing")
    args = [str(FIXTURES / name)]
    for key, value in case.params.items():
        args += ["-p", f"{key}={value.replace('{tmp}', str(tmp_path))}"]
    for key, text in case.artifacts.items():
        (tmp_path / f"{key}.txt").write_text(text)
        args += ["--artifact", f"{key}={tmp_path / f'{key}.txt'}"]
    if case.secrets:
        for secret, keys in SECRETS.items():
            for key, text in keys.items():
                (tmp_path / "secrets" / secret).mkdir(parents=True, exist_ok=True)
                (tmp_path / "secrets" / secret / key).write_text(text)
        args += ["--secrets", str(tmp_path / "secrets")]
    for key, value in case.env.items():
        monkeypatch.setenv(key, value)
    with mounts_held(case):
        if case.mounts and not all(writable(m) for m in case.mounts):
            outcome, why = "refused", r"mount path .* (already exists on this machine|is not writable here)"
        else:
            outcome, why = case.outcome, case.why
        done = cli("pipeline", "run", *args, timeout=300)
    records = RunStore(state_dir).list() if (state_dir / "runs.db").exists() else []
    if outcome == "refused":
        assert done.returncode == 2, done.stderr
        assert re.search(why, done.stderr), done.stderr
        assert "Traceback" not in done.stderr and records == []
        return
    assert "Traceback" not in done.stderr, done.stderr
    (pipeline,) = [r for r in records if r.parent_id is None]
    assert (done.returncode, pipeline.status) == ((0, "Succeeded") if outcome == "Succeeded" else (1, "Failed")), \
        done.stderr
    if outcome == "Failed":
        assert re.search(why, pipeline.message or ""), pipeline.message
    tasks = {}
    for record in sorted((r for r in records if r.parent_id), key=lambda r: (r.started_at or 0.0, r.id)):
        tasks[record.component] = record  # the last attempt of a retried task
    for key, expected in case.outputs.items():
        assert key in tasks, f"{key} did not run: {sorted(tasks)}\n{done.stderr}"
        got = {k: tasks[key].outputs.get(k) for k in expected} if tasks[key].outputs else {}
        assert got == expected, (key, done.stderr)
    for key in case.ran:
        assert key in tasks and tasks[key].status == "Succeeded", (key, done.stderr)
    for key in case.skipped:
        assert f"task {key}: skipped (condition " in done.stderr, (key, done.stderr)
        assert key not in tasks
    if case.check is not None:
        case.check(tasks, done.stderr)
