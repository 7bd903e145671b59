"""`pipetune ui --artifact-root`: a usage error (exit 2, one line) when the folder is missing or
the engine is local; nothing starts listening."""

from __future__ import annotations

from pathlib import Path


def test_a_missing_artifact_root_is_a_usage_error(cli, tmp_path: Path) -> None:
    done = cli("ui", "--engine", "kubernetes", "--artifact-root", str(tmp_path / "absent"), "--port", "0")
    assert done.returncode == 2
    assert f"--artifact-root {tmp_path / 'absent'}: expected an existing folder" in done.stderr
    assert "Traceback" not in done.stderr


def test_an_artifact_root_is_for_the_cluster_dashboard_only(cli, tmp_path: Path) -> None:
    done = cli("ui", "--artifact-root", str(tmp_path), "--port", "0")
    assert done.returncode == 2 and "are for --engine kubernetes" in done.stderr
    assert "Traceback" not in done.stderr
