"""Population-based training end to end: members resume from their parent's checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import ROOT

SIMPLE_PBT = ROOT.parent / "shared" / "fixtures" / "katib-v1beta1" / "hp-tuning__simple-pbt.yaml"
TOY = "python pipelines/pbt/toy.py --epochs=2 --lr=${trialParameters.learningRate}"


@pytest.mark.slow
def test_pbt_members_continue_from_their_parents_checkpoints(cli, state_dir: Path, tmp_path: Path) -> None:
    directory = tmp_path / "exp"
    result = cli("tune", str(ROOT / "pipelines" / "pbt-local.yaml"), "--dir", str(directory), "--quiet",
                 cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = {row["trial"]: row for row in json.loads((directory / "trials.json").read_text())}
    assert [rows[i]["status"] for i in range(12)] == ["Succeeded"] * 12
    tags = {}
    for line in (directory / "journal.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record["op"] == "trial_created":
            tags[record["trial"]] = record["internal"]["pbt"]
    exploited = 0
    for index in range(4, 12):
        tag = tags[index]
        generation, member, parent = tag["generation"], tag["member"], tag["parent"]
        assert (generation, member) == divmod(index, 4)
        parent_row = rows[parent]
        log = (state_dir / "runs" / rows[index]["run_id"] / "logs" / "stdout.log").read_text()
        # Started from the parent's newest checkpoint: its step and its accuracy.
        expected = f"resuming from step {3 * generation} (accuracy {parent_row['objective']:.4f})"
        assert expected in log, (index, parent, log[:300])
        if parent != index - 4:
            exploited += 1
            ratio = rows[index]["parameters"]["lr"] / parent_row["parameters"]["lr"]
            assert ratio == pytest.approx(0.8, abs=0.02) or ratio == pytest.approx(1.2, abs=0.02)
        else:
            assert rows[index]["parameters"] == parent_row["parameters"]
    assert exploited >= 2  # one of four exploits in each of generations 1 and 2
    best = max(rows.values(), key=lambda row: row["objective"])
    assert best["trial"] >= 8 and best["objective"] > max(rows[i]["objective"] for i in range(4))
    listed = cli("checkpoints", "list", str(directory))
    assert "trial 0011" in listed.stdout


@pytest.mark.skipif(not SIMPLE_PBT.exists(), reason="no ../shared/fixtures/katib-v1beta1 here")
def test_katibs_simple_pbt_example_runs_here_with_a_local_command(cli, tmp_path: Path) -> None:
    result = cli("tune", str(SIMPLE_PBT), "--dir", str(tmp_path / "exp"), "--local-command", TOY,
                 "--quiet", cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = json.loads((tmp_path / "exp" / "trials.json").read_text())
    assert [row["status"] for row in rows] == ["Succeeded", "Succeeded"]
    assert all(0 < row["objective"] < 1 for row in rows)
