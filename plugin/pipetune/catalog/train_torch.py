"""train-torch: a small PyTorch MLP on a synthetic, seeded data set, optionally distributed."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from typing import Any

import pipetune
from pipetune.catalog import component_file
from pipetune.contract import Results, write_results
from pipetune.extras import require

N_FEATURES = 10
N_CLASSES = 3
#: Gaussian blobs per class, at random places: the classes are not convex, nor linearly separable.
BLOBS_PER_CLASS = 3
TEST_FRACTION = 0.25
MOMENTUM = 0.9


def make_dataset(n_samples: int, seed: int) -> tuple[Any, Any]:
    """Features and labels of the synthetic classification set; the same for the same seed.

    Each class is a mixture of Gaussian blobs with random centres, pushed through a fixed
    nonlinearity, so a linear model does poorly, an MLP well, and neither perfectly.
    """
    import torch  # PyTorch is an optional extra (pipetune[torch]): loaded only to train

    generator = torch.Generator().manual_seed(seed)
    centres = torch.randn(N_CLASSES * BLOBS_PER_CLASS, N_FEATURES, generator=generator) * 1.2
    blob = torch.randint(0, len(centres), (n_samples,), generator=generator)
    points = centres[blob] + torch.randn(n_samples, N_FEATURES, generator=generator)
    mixing = torch.randn(N_FEATURES, N_FEATURES, generator=generator) / N_FEATURES**0.5
    features = torch.tanh(points) + 0.5 * torch.sin(points @ mixing)
    return features, blob % N_CLASSES


def _split(features: Any, labels: Any, seed: int) -> tuple[Any, Any, Any, Any]:
    import torch

    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed + 1))
    n_test = max(1, round(len(labels) * TEST_FRACTION))
    test, train = order[:n_test], order[n_test:]
    return features[train], labels[train], features[test], labels[test]


def _distributed_env() -> tuple[int, int]:
    """WORLD_SIZE and RANK as a PyTorchJob (or torchrun) sets them; 1 and 0 when unset."""
    values = []
    for name, default in (("WORLD_SIZE", 1), ("RANK", 0)):
        text = os.environ.get(name, "").strip()
        try:
            values.append(int(text) if text else default)
        except ValueError:
            pipetune.usage_error(f"train-torch: ${name}: expected an integer, got {text!r}")
    world_size, rank = values
    if world_size < 1 or not 0 <= rank < world_size:
        pipetune.usage_error(
            f"train-torch: $RANK={rank} and $WORLD_SIZE={world_size}: "
            "expected 0 <= RANK < WORLD_SIZE"
        )
    return world_size, rank


def _check(args: Any) -> None:
    for name in ("epochs", "batch_size", "hidden_size"):
        value = getattr(args, name)
        if value < 1:
            pipetune.usage_error(f"train-torch: --{name}: expected at least 1, got {value}")
    if args.n_samples < 8:
        pipetune.usage_error(f"train-torch: --n_samples: expected at least 8, got {args.n_samples}")
    if args.lr <= 0.0:
        pipetune.usage_error(f"train-torch: --lr: expected a positive number, got {args.lr}")
    if args.checkpoint_every < 0:
        pipetune.usage_error(
            f"train-torch: --checkpoint_every: expected 0 (never) or more, got {args.checkpoint_every}"
        )
    if args.weight_decay < 0.0:
        pipetune.usage_error(
            f"train-torch: --weight_decay: expected zero or more, got {args.weight_decay}"
        )


def main(argv: Sequence[str] | None = None) -> None:
    args = pipetune.parse_args(component_file("train-torch"), argv)
    _check(args)
    world_size, rank = _distributed_env()
    # PyTorch is an optional extra (pipetune[torch]), loaded after the arguments are checked.
    require("torch", "train-torch")
    import torch
    import torch.distributed as dist
    from torch import nn
    from torch.utils.data import DistributedSampler, TensorDataset

    # One thread: the runs are reproducible and several processes share a small machine well.
    torch.set_num_threads(1)
    distributed = world_size > 1
    if distributed:
        # env:// reads MASTER_ADDR and MASTER_PORT; rank 0 listens there, the others connect.
        dist.init_process_group("gloo", init_method="env://", world_size=world_size, rank=rank)
    try:
        features, labels = make_dataset(args.n_samples, args.seed)
        x_train, y_train, x_test, y_test = _split(features, labels, args.seed)
        torch.manual_seed(args.seed)
        network = nn.Sequential(
            nn.Linear(N_FEATURES, args.hidden_size),
            nn.ReLU(),
            nn.Linear(args.hidden_size, N_CLASSES),
        )
        # DDP broadcasts rank 0's initial weights and averages gradients over the ranks.
        model = nn.parallel.DistributedDataParallel(network) if distributed else network
        optimizer = _SGD(list(model.parameters()), args.lr, MOMENTUM, args.weight_decay)
        loss_fn = nn.CrossEntropyLoss()
        # With one process this is a seeded shuffle of all of the training set. With several, each
        # rank gets its own shard, padded so every rank runs the same number of steps.
        sampler: DistributedSampler[int] = DistributedSampler(
            TensorDataset(x_train, y_train),
            num_replicas=world_size,
            rank=rank,
            shuffle=True,
            seed=args.seed,
        )
        started = time.perf_counter()
        local_samples = 0
        metrics: dict[str, float] = {}
        first_epoch = 1
        resumed = pipetune.resume_from()
        if resumed is not None:
            # Every rank loads the same state: the weights, the momentum buffers, the epoch.
            saved = torch.load(resumed / "state.pt", weights_only=True)
            network.load_state_dict(saved["network"])
            optimizer.buffers = list(saved["buffers"])
            local_samples, first_epoch = int(saved["local_samples"]), int(saved["epoch"]) + 1
            metrics = dict(saved["metrics"])
            if rank == 0:
                # The reports made before the checkpoint, so results.yaml's history is whole.
                write_results(Results(history=list(saved["history"])))
                print(f"train-torch: resuming after epoch {first_epoch - 1} of {args.epochs}", flush=True)
        history: list[dict[str, float]] = list(saved["history"]) if resumed is not None else []
        for epoch in range(first_epoch, args.epochs + 1):
            sampler.set_epoch(epoch)
            indices = torch.tensor(list(sampler))
            model.train()
            for batch in indices.split(args.batch_size):
                optimizer.zero_grad()
                loss_fn(model(x_train[batch]), y_train[batch]).backward()
                optimizer.step()
                local_samples += len(batch)
            if rank == 0:
                model.eval()
                with torch.no_grad():
                    logits = network(x_test)
                accuracy = float((logits.argmax(dim=1) == y_test).float().mean())
                loss = float(loss_fn(logits, y_test))
                metrics = {"accuracy": accuracy, "loss": loss}
                pipetune.report(step=epoch, accuracy=accuracy, loss=loss)
                history.append({"step": epoch, **metrics})
                if args.checkpoint_every and epoch % args.checkpoint_every == 0 and epoch < args.epochs:
                    with pipetune.checkpoint(step=epoch, kind="training", metrics=metrics) as directory:
                        torch.save(
                            {
                                "network": network.state_dict(),
                                "buffers": optimizer.buffers,
                                "epoch": epoch,
                                "local_samples": local_samples,
                                "metrics": metrics,
                                "history": history,
                            },
                            directory / "state.pt",
                        )
        train_seconds = round(time.perf_counter() - started, 4)

        # Count the ranks that took part and the samples they trained on, over the wire.
        counts = torch.tensor([1, local_samples], dtype=torch.int64)
        if distributed:
            dist.all_reduce(counts, op=dist.ReduceOp.SUM)
        ranks_seen, samples_seen = (int(value) for value in counts)

        if rank == 0:
            model_dir = pipetune.artifact_dir(args.model, "model")
            torch.save(network.state_dict(), model_dir / "model.pt")
            config = {
                "n_features": N_FEATURES,
                "hidden_size": args.hidden_size,
                "n_classes": N_CLASSES,
            }
            (model_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n")
            pipetune.save_results(
                metrics={**metrics, "train_seconds": train_seconds},
                outputs={
                    "world_size": world_size,
                    "ranks_seen": ranks_seen,
                    "samples_seen": samples_seen,
                    "n_train": int(len(y_train)),
                    "n_test": int(len(y_test)),
                },
                artifacts={"model": pipetune.artifact_ref(model_dir)},
            )
        if distributed:
            # Tear down together: rank 0 is still writing while the others are done, and a
            # process group destroyed after its peer has exited aborted once in CI
            # ("terminate called without an active exception"). The DDP wrapper goes first,
            # so no reducer holds the group while it is destroyed.
            dist.barrier()
            del model
    finally:
        if distributed and dist.is_initialized():
            dist.destroy_process_group()


class _SGD:
    """SGD with momentum and weight decay, the update of ``torch.optim.SGD`` (no dampening).

    Written out because constructing any ``torch.optim`` optimizer imports ``torch._dynamo``,
    which costs about as much as importing torch itself (1.5 s) in a run that trains in 0.1 s.
    """

    def __init__(self, params: list[Any], lr: float, momentum: float, weight_decay: float):
        self.params, self.lr, self.momentum, self.weight_decay = params, lr, momentum, weight_decay
        self.buffers: list[Any] = [None] * len(params)

    def zero_grad(self) -> None:
        for param in self.params:
            param.grad = None

    def step(self) -> None:
        import torch

        with torch.no_grad():
            for i, param in enumerate(self.params):
                if param.grad is None:
                    continue
                step = param.grad
                if self.weight_decay:
                    step = step.add(param, alpha=self.weight_decay)
                if self.buffers[i] is None:
                    self.buffers[i] = step.clone()
                else:
                    self.buffers[i].mul_(self.momentum).add_(step)
                param.add_(self.buffers[i], alpha=-self.lr)


if __name__ == "__main__":
    main()
