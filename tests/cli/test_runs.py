"""Run tracking as a user sees it: `runs list` filters, sorts and limits, trial rows carry
their index and parameters; `runs delete`, `runs gc` and `experiments delete` free what `du`
says and nothing else, and leave a store whose integrity check passes."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from conftest import DATA
from pipetune.store import RunRecord, RunStore
from ui.stores import finished_and_running


def du(path: Path) -> int:
    """What `du` says a folder holds, in bytes."""
    if not path.exists():
        return 0
    return int(subprocess.run(["du", "-s", "-B1", str(path)], capture_output=True, text=True, check=True).stdout.split()[0])


def tree(path: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``path`` with its size and mtime: a before/after picture."""
    return {str(p): (p.lstat().st_size, p.lstat().st_mtime_ns) for p in path.rglob("*")}


@pytest.fixture
def two(state_dir: Path):
    return finished_and_running(state_dir)


def rows(result: subprocess.CompletedProcess) -> list[str]:
    return result.stdout.splitlines()[1:]


def test_limit_counts_the_rows_printed(cli, two) -> None:
    result = cli("runs", "list", "--limit", "3")
    assert result.returncode == 0, result.stderr
    assert len(rows(result)) == 3
    assert "more child runs not shown" in result.stderr
    everything = cli("runs", "list", "--limit", "0")
    assert len(rows(everything)) == 1 + 2 + 8 + 4  # the plain run, two experiments, their 12 trials


def test_the_header_says_which_state_directory(cli, two, state_dir: Path) -> None:
    result = cli("runs", "list")
    assert f"runs in {state_dir}" in result.stderr and "15 recorded" in result.stderr


def test_trial_rows_show_their_index_and_parameters(cli, two) -> None:
    result = cli("runs", "list", "--experiment", "done", "--limit", "0")
    lines = rows(result)
    assert len(lines) == 8
    assert any("trial 6 (done-0006)" in line and "x=0.31 y=0.69 kind=a" in line for line in lines)
    data = [json.loads(line) for line in cli("runs", "list", "--experiment", "done", "--json").stdout.splitlines()]
    assert sorted(d["trial"]["index"] for d in data) == list(range(8))


def test_filters_by_status_component_time_and_text(cli, two) -> None:
    failed = rows(cli("runs", "list", "--status", "failed"))
    assert len(failed) == 1 and "trial 1" in failed[0]
    both = rows(cli("runs", "list", "--status", "Failed,Running", "--limit", "0"))
    assert len(both) == 1 + 2  # the failed trial, the running trial, the running experiment
    assert len(rows(cli("runs", "list", "--component", "train-*"))) == 1
    assert len(rows(cli("runs", "list", "--component", "live-", "--limit", "0"))) == 4
    recent = cli("runs", "list", "--since", "7d", "--limit", "0")
    assert "solo0001" not in recent.stdout and len(rows(recent)) == 14
    assert [line.split()[0] for line in rows(cli("runs", "list", "--search", "SKLEARN"))] == ["20200101-000000-solo0001"]


def test_sorts_by_a_metric_and_by_duration(cli, two) -> None:
    best = rows(cli("runs", "list", "--experiment", "done", "--sort", "metric:-loss", "--limit", "1"))
    assert "trial 6" in best[0]
    worst = rows(cli("runs", "list", "--experiment", "done", "--sort", "metric:loss", "--limit", "1"))
    assert "trial 3" in worst[0]  # stopped early at 0.4; the failed trial 1 has no loss and sorts last
    assert cli("runs", "list", "--sort", "duration").returncode == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--status", "Done"], "status 'Done': expected one of Pending, Running, Succeeded, Failed, Cancelled"),
        (["--since", "yesterday"], "--since 'yesterday': expected an age (30m, 12h, 7d) or a date"),
        (["--sort", "colour"], "sort 'colour': expected one of created"),
        (["--limit", "-1"], "--limit -1: expected 0 (all) or more"),
    ],
)
def test_a_bad_filter_is_one_usage_error(cli, two, args: list[str], message: str) -> None:
    result = cli("runs", "list", *args)
    assert result.returncode == 2 and message in result.stderr and result.stderr.count("\n") == 1


def test_global_flags_go_before_or_after_the_command(cli, two, state_dir: Path, tmp_path: Path) -> None:
    other = tmp_path / "elsewhere"
    after = cli("runs", "list", "--state-dir", str(other))  # the fixture's --state-dir comes first
    assert f"runs in {other}" in after.stderr and "no runs recorded" in after.stderr
    assert cli("runs", "-q", "list").returncode == 0
    version = cli("--version")
    assert version.returncode == 0 and version.stdout.startswith("pipetune ")


def test_delete_removes_runs_outputs_and_logs_and_says_what_it_freed(cli, two, state_dir: Path) -> None:
    done, _ = two
    victim = done.store.list(parent_id=done.run_id)[0].id
    folder = state_dir / "runs" / victim
    expected = du(folder)
    before = du(state_dir / "runs")
    result = cli("runs", "delete", victim)
    assert result.returncode == 0, result.stderr
    assert "freed" in result.stdout and f"({expected} bytes)" in result.stdout
    assert not folder.exists() and before - du(state_dir / "runs") == expected
    assert cli("runs", "show", victim).returncode == 2
    assert cli("runs", "check").returncode == 0


def test_delete_refuses_a_running_run_unless_forced(cli, two) -> None:
    _, live = two
    result = cli("runs", "delete", live.run_id)
    assert result.returncode == 2 and "is Running; stop it first" in result.stderr
    assert cli("runs", "show", live.run_id).returncode == 0
    assert cli("runs", "delete", "--force", live.run_id).returncode == 0
    assert cli("runs", "list", "--experiment", "live").stderr.count("no runs match") == 1


def test_a_dry_run_removes_nothing(cli, two, state_dir: Path) -> None:
    before = tree(state_dir)
    result = cli("runs", "gc", "--keep", "0", "--dry-run")
    assert result.returncode == 0 and "would delete" in result.stdout and "would free" in result.stdout
    assert tree(state_dir) == before


def test_experiments_list_show_and_delete(cli, two, state_dir: Path) -> None:
    listed = cli("experiments", "list")
    assert listed.returncode == 0
    done_row = next(line for line in listed.stdout.splitlines() if line.startswith("done"))
    assert "8/8 done, 1 failed" in done_row and "loss 0.0002 (trial 6)" in done_row and "random" in done_row
    shown = cli("experiments", "show", "done")
    assert shown.returncode == 0 and "*6" in shown.stdout and "best loss 0.0002 (trial 6" in shown.stdout
    directory = state_dir / "experiments" / "done"
    trial_dirs = [state_dir / "runs" / r.id for r in two[0].store.list(parent_id=two[0].run_id)]
    expected = du(directory) + sum(du(d) for d in trial_dirs)
    deleted = cli("experiments", "delete", "done")
    assert deleted.returncode == 0, deleted.stderr
    assert "8 trial run(s)" in deleted.stdout and f"({expected} bytes)" in deleted.stdout
    assert not directory.exists() and not any(d.exists() for d in trial_dirs)
    assert [line.split()[0] for line in cli("experiments", "list").stdout.splitlines()[1:]] == ["live"]
    assert cli("experiments", "show", "done").returncode == 2
    assert cli("runs", "check").returncode == 0


def test_an_experiment_directory_outside_the_state_directory_is_kept(cli, state_dir: Path, tmp_path: Path) -> None:
    experiment = DATA / "experiments" / "quadratic.yaml"
    outside = tmp_path / "mine"
    assert cli("tune", str(experiment), "--dir", str(outside), "-q").returncode == 0
    result = cli("experiments", "delete", "quadratic")
    assert result.returncode == 0 and "kept" in result.stderr and "outside the state directory" in result.stderr
    assert (outside / "journal.jsonl").is_file()
    assert cli("runs", "list", "--limit", "0").stdout == ""


def _bulk(state_dir: Path, count: int) -> RunStore:
    """``count`` finished top-level runs, a day apart going back, each with a 3 KB output, a
    log and a hard-linked copy (counted once, as du counts it)."""
    store = RunStore(state_dir)
    now = time.time()
    for i in range(count):
        run_id = f"20260101-000000-{i:08x}"
        outputs = store.run_dir(run_id) / "outputs"
        outputs.mkdir(parents=True)
        (store.run_dir(run_id) / "logs").mkdir()
        (outputs / "model.bin").write_bytes(os.urandom(3000))
        os.link(outputs / "model.bin", outputs / "model-link.bin")
        (store.run_dir(run_id) / "logs" / "stdout.log").write_text("x" * (i % 50))
        stamp = now - i * 3600
        store.create(RunRecord(id=run_id, component="train", engine="local", status="Succeeded", created_at=stamp,
                               started_at=stamp, finished_at=stamp + 1, outputs_dir=str(outputs)))
    store.close()
    return store


def test_gc_on_a_thousand_runs_frees_what_du_says_and_nothing_else(cli, state_dir: Path, tmp_path: Path) -> None:
    store = _bulk(state_dir, 1000)
    # Something outside the state directory that a careless gc might follow: a link to it.
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "data").write_text("keep me")
    os.symlink(outside, store.run_dir("20260101-000000-000003e7") / "outputs" / "precious")
    outside_before = tree(outside)
    kept = sorted(r.id for r in store.list())[:100]  # run i is i hours old: the lowest ids are the newest
    doomed = [store.run_dir(r.id) for r in store.list() if r.id not in kept]
    expected = sum(du(d) for d in doomed)
    before = du(state_dir / "runs")
    result = cli("runs", "gc", "--keep", "100", timeout=300)
    assert result.returncode == 0, result.stderr
    assert "deleted 900 run(s)" in result.stdout and f"({expected} bytes)" in result.stdout
    assert before - du(state_dir / "runs") == expected
    assert tree(outside) == outside_before
    assert sorted(r.id for r in RunStore(state_dir).list()) == kept
    check = cli("runs", "check")
    assert check.returncode == 0 and "ok, 100 runs" in check.stdout


def test_gc_older_than_keeps_the_young(cli, state_dir: Path) -> None:
    _bulk(state_dir, 30)
    result = cli("runs", "gc", "--older-than", "12.5h")
    assert result.returncode == 0 and "deleted 17 run(s)" in result.stdout  # 0..12 h old stay: 13 runs
    assert len(RunStore(state_dir).list()) == 13
    assert cli("runs", "gc").returncode == 2
    assert "expected an age" in cli("runs", "gc", "--older-than", "soon").stderr


def test_check_finds_an_orphan_folder_and_gc_removes_old_ones(cli, two, state_dir: Path) -> None:
    orphan = state_dir / "runs" / "20190101-000000-deadbeef"
    (orphan / "outputs").mkdir(parents=True)
    (orphan / "outputs" / "x").write_text("left by a crash")
    check = cli("runs", "check")
    assert check.returncode == 1 and "a run folder with no run in the store" in check.stdout
    old = time.time() - 7200
    os.utime(orphan, (old, old))
    result = cli("runs", "gc", "--older-than", "1000d")
    assert result.returncode == 0 and "removed 1 run folder(s) with no run" in result.stdout
    assert not orphan.exists() and cli("runs", "check").returncode == 0


def test_completion_scripts(cli) -> None:
    bash = cli("completion", "bash")
    assert bash.returncode == 0 and "experiments" in bash.stdout and "--state-dir" in bash.stdout
    assert cli("completion", "fish").returncode == 2
