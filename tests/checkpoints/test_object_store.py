"""Checkpoints in an object store: S3, served by moto's standalone server over HTTP and
reached through s3fs, exactly as a cluster run reaches a bucket (no mock of fsspec)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

moto_server = pytest.importorskip("moto.server")
pytest.importorskip("s3fs")

from pipetune.checkpoints import MARKER, CheckpointStore, Retention, resume_from  # noqa: E402


@pytest.fixture
def bucket(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    # The way a pod is configured: credentials and the endpoint in the environment, read by
    # botocore and by fsspec's FSSPEC_<PROTOCOL>_<OPTION> configuration.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("FSSPEC_S3_ENDPOINT_URL", f"http://{host}:{port}")
    import fsspec.config

    fsspec.config.conf.clear()
    fsspec.config.set_conf_env(fsspec.config.conf)
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()
    fs = s3fs.S3FileSystem()
    # moto keeps its buckets in this process across servers: one bucket per test.
    name = f"ckpts-{uuid.uuid4().hex[:8]}"
    fs.mkdir(name)
    try:
        yield f"s3://{name}"
    finally:
        s3fs.S3FileSystem.clear_instance_cache()
        fsspec.config.conf.clear()
        server.stop()


def test_save_latest_load_collect_and_resume_through_s3(bucket: str, tmp_path: Path, monkeypatch) -> None:
    store = CheckpointStore(f"{bucket}/exp/trial-0003", Retention(keep_last=2))
    for step in (1, 2, 3):
        with store.writing(step=step, kind="training") as directory:
            (directory / "weights.bin").write_bytes(bytes([step]) * 1000)
            (directory / "nested").mkdir()
            (directory / "nested" / "opt.json").write_text(f'{{"step": {step}}}')
    assert [(i.name, i.step, i.complete) for i in store.list()] == [
        ("ckpt-000002", 2, True), ("ckpt-000003", 3, True)]  # the last 2 kept
    latest = store.latest()
    assert latest.uri == f"{bucket}/exp/trial-0003/ckpt-000003"
    local = store.load(latest, cache_dir=tmp_path / "cache")
    assert (local / "weights.bin").read_bytes() == bytes([3]) * 1000
    assert (local / "nested" / "opt.json").read_text() == '{"step": 3}'

    # A save that died before its marker: uploaded files, no marker. Ignored, then collected.
    root = bucket.removeprefix("s3://")
    store.fs.pipe(f"{root}/exp/trial-0003/ckpt-000004/weights.bin", b"half")
    assert store.latest().name == "ckpt-000003"
    assert {i.name: i.complete for i in store.list()}["ckpt-000004"] is False
    # Just written, it may be a save still uploading: left alone for a minute.
    assert store.collect() == []
    store.fs.pipe(f"{root}/exp/trial-0003/ckpt-000004/weights.bin", b"half")
    monkeypatch.setattr("pipetune.checkpoints._store.time.time", lambda: 10**10)
    removed = store.collect()
    assert removed == [f"{bucket}/exp/trial-0003/ckpt-000004"]
    assert not store.fs.exists(f"{root}/exp/trial-0003/ckpt-000004/weights.bin")
    assert not store.fs.exists(f"{root}/exp/trial-0003/ckpt-000004/{MARKER}")

    monkeypatch.setenv("PIPETUNE_RESUME_FROM", latest.uri)
    resumed = resume_from()
    assert resumed is not None and (resumed / "weights.bin").read_bytes() == bytes([3]) * 1000


def test_resuming_from_a_uri_that_holds_nothing_names_it(bucket: str, monkeypatch) -> None:
    from pipetune.errors import ContractError

    missing = f"{bucket}/exp/trial-0009/ckpt-000001"
    monkeypatch.setenv("PIPETUNE_RESUME_FROM", missing)
    with pytest.raises(ContractError, match=f"PIPETUNE_RESUME_FROM={missing}: no complete checkpoint there"):
        resume_from()
