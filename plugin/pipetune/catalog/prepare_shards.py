"""prepare-shards: a sharded data-preparation step that checkpoints after every shard."""

from __future__ import annotations

import hashlib
import json
import math
import random
import shutil
import time
from collections.abc import Sequence
from typing import TypedDict

import pipetune
from pipetune.catalog import component_file
from pipetune.contract import Results, write_results

COLUMNS = ("a", "b", "c")


class _State(TypedDict):
    """Running statistics (count, sums) and the digest of everything written so far: the state
    a resumed run needs besides the shard files themselves (``state.json`` in a checkpoint)."""

    next_shard: int
    rows_in: int
    rows_out: int
    sums: list[float]
    digest: str
    history: list[dict[str, float]]


def generate(shard: int, rows: int, seed: int) -> list[list[float | None]]:
    """Shard ``shard`` of the synthetic table: three columns, some values missing, some far out."""
    rng = random.Random(f"{seed}:{shard}")
    table: list[list[float | None]] = []
    for _ in range(rows):
        row: list[float | None] = [rng.gauss(10, 3), rng.gauss(-2, 1), rng.expovariate(0.5)]
        if rng.random() < 0.03:
            row[rng.randrange(3)] = None
        if rng.random() < 0.01:
            row[0] = row[0] * 40 if row[0] is not None else None
        table.append(row)
    return table


def main(argv: Sequence[str] | None = None) -> None:
    args = pipetune.parse_args(component_file("prepare-shards"), argv)
    if args.shards < 1 or args.rows_per_shard < 1:
        pipetune.usage_error("prepare-shards: --shards and --rows_per_shard must be at least 1")
    if args.shard_seconds < 0:
        pipetune.usage_error(f"prepare-shards: --shard_seconds: expected >= 0, got {args.shard_seconds}")
    dataset = pipetune.artifact_dir(args.dataset, "dataset")
    state: _State = {"next_shard": 0, "rows_in": 0, "rows_out": 0, "sums": [0.0, 0.0, 0.0], "digest": "",
                    "history": []}
    resumed = pipetune.resume_from()
    if resumed is not None:
        state = json.loads((resumed / "state.json").read_text())
        for path in sorted((resumed / "shards").glob("*.csv")):
            shutil.copy2(path, dataset / path.name)
        # The reports made before the checkpoint, so results.yaml's history is whole.
        write_results(Results(history=state["history"]))
        print(f"prepare-shards: resuming at shard {state['next_shard']} of {args.shards}", flush=True)
    for shard in range(state["next_shard"], args.shards):
        table = generate(shard, args.rows_per_shard, args.seed)
        # The rows with no value missing (every row of the table has one value per column).
        present = [[v for v in row if v is not None] for row in table]
        clean = [row for row in present if len(row) == len(COLUMNS)]
        clipped = [[min(max(v, -100.0), 100.0) for v in row] for row in clean]
        lines = ["a,b,c"] + [",".join(f"{v:.6f}" for v in row) for row in clipped]
        text = "\n".join(lines) + "\n"
        (dataset / f"shard-{shard:04d}.csv").write_text(text)
        state["rows_in"] += len(table)
        state["rows_out"] += len(clipped)
        state["sums"] = [s + sum(row[i] for row in clipped) for i, s in enumerate(state["sums"])]
        state["digest"] = hashlib.sha256((state["digest"] + text).encode()).hexdigest()
        state["next_shard"] = shard + 1
        if args.shard_seconds:
            time.sleep(args.shard_seconds)
        pipetune.report(step=shard + 1, rows_out=state["rows_out"])
        state["history"].append({"step": shard + 1, "rows_out": state["rows_out"]})
        with pipetune.checkpoint(step=shard + 1, kind="data-prep", shards_done=shard + 1) as directory:
            (directory / "state.json").write_text(json.dumps(state))
            shutil.copytree(dataset, directory / "shards")
    means = [s / state["rows_out"] if state["rows_out"] else math.nan for s in state["sums"]]
    pipetune.save_results(
        metrics={"rows_in": state["rows_in"], "rows_out": state["rows_out"],
                 "dropped_fraction": 1 - state["rows_out"] / state["rows_in"]},
        outputs={"shards": args.shards, "digest": state["digest"],
                 **{f"mean_{c}": round(m, 9) for c, m in zip(COLUMNS, means)}},
        artifacts={"dataset": pipetune.artifact_ref(dataset)},
    )


if __name__ == "__main__":
    main()
