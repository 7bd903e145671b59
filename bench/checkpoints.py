"""Checkpoint save and load against a plain copy, and collection of 1,000 checkpoints.

    python bench/checkpoints.py [--mb 200] [--repeats 5] [--gc 1000]

Save: ``CheckpointStore.save`` of a directory of ``--mb`` MB (8 files) against
``shutil.copytree`` of the same directory to the same disk, plus the same copy followed by an
fsync of every file (what durability costs by itself). Load: ``store.load`` of a local store
(no copy: the checkpoint is the directory) and reading every file, against reading the source.
Medians over repeats; the page cache is warm for both sides. GC: 1,000 small checkpoints,
then one ``collect`` keeping the last 3.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugin"))

from pipetune.checkpoints import CheckpointStore, Retention  # noqa: E402


def make_source(root: Path, megabytes: int, files: int = 8) -> Path:
    source = root / "source"
    source.mkdir()
    chunk = os.urandom(1024 * 1024)
    for index in range(files):
        with open(source / f"part-{index}.bin", "wb") as handle:
            for _ in range(megabytes // files):
                handle.write(chunk)
    return source


def read_all(directory: Path) -> int:
    total = 0
    for path in sorted(directory.rglob("*")):
        if path.is_file():
            with open(path, "rb") as handle:
                while block := handle.read(1 << 20):
                    total += len(block)
    return total


def timed(fn, *args) -> float:  # noqa: ANN001
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def copy_fsync(source: Path, target: Path) -> None:
    shutil.copytree(source, target)
    for path in target.rglob("*"):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--gc", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=Path.home()) as tmp:
        root = Path(tmp)
        source = make_source(root, args.mb)
        results: dict[str, list[float]] = {"copytree": [], "copy+fsync": [], "save": [], "read source": [],
                                           "load+read": []}
        for repeat in range(args.repeats):
            target = root / f"copy-{repeat}"
            results["copytree"].append(timed(shutil.copytree, source, target))
            shutil.rmtree(target)
            target = root / f"synced-{repeat}"
            results["copy+fsync"].append(timed(copy_fsync, source, target))
            shutil.rmtree(target)
            store = CheckpointStore(root / f"store-{repeat}", Retention(keep_last=1))
            results["save"].append(timed(store.save, source, repeat))
            results["read source"].append(timed(read_all, source))
            results["load+read"].append(timed(lambda store=store: read_all(store.load())))
            shutil.rmtree(root / f"store-{repeat}")
        median = {name: statistics.median(values) for name, values in results.items()}
        print(f"{args.mb} MB in 8 files, median of {args.repeats} (warm page cache)")
        for name, value in median.items():
            print(f"  {name:12} {value * 1000:8.1f} ms")
        print(f"  save / copytree:   {median['save'] / median['copytree']:.2f}x")
        print(f"  save / copy+fsync: {median['save'] / median['copy+fsync']:.2f}x")
        print(f"  load+read / read:  {median['load+read'] / median['read source']:.2f}x")

        store = CheckpointStore(root / "many", Retention(keep_last=args.gc + 1))
        start = time.perf_counter()
        for step in range(args.gc):
            with store.writing(step=step) as directory:
                (directory / "state.json").write_text(f'{{"step": {step}}}')
        made = time.perf_counter() - start
        store.retention = Retention(keep_last=3)
        listed = timed(store.list)
        start = time.perf_counter()
        removed = store.collect()
        collected = time.perf_counter() - start
        print(f"{args.gc} small checkpoints: saved in {made:.2f}s ({made / args.gc * 1000:.2f} ms each); "
              f"list {listed * 1000:.0f} ms; collect keeping 3: {collected:.2f}s for {len(removed)} removed "
              f"({collected / max(1, len(removed)) * 1000:.2f} ms each)")


if __name__ == "__main__":
    main()
