"""Results recovered from logs: pipetune.report lines and Katib's StdOut convention."""

from __future__ import annotations

from pipetune.contract import results_from_log


def test_katib_name_value_lines_become_metrics_and_history() -> None:
    lines = [
        "epoch 1:",
        "loss=0.52",
        "accuracy=0.71",
        "Validation-accuracy=0.8 Validation-loss=1e-2",
        "epoch 2 done, nothing here",
        "loss=0.31",
    ]
    results = results_from_log(lines)
    assert results is not None
    assert results.metrics == {
        "loss": 0.31,
        "accuracy": 0.71,
        "Validation-accuracy": 0.8,
        "Validation-loss": 0.01,
    }
    assert results.history[2] == {"Validation-accuracy": 0.8, "Validation-loss": 0.01}


def test_metric_names_filter_like_katibs_collector() -> None:
    results = results_from_log(["lr=0.1 accuracy=0.9", "batch=3"], metric_names=["accuracy"])
    assert results is not None
    assert results.metrics == {"accuracy": 0.9}
    assert results.history == [{"accuracy": 0.9}]


def test_report_lines_win_over_name_value_lines() -> None:
    lines = [
        "config lr=0.1",
        'pipetune.report {"step": 1, "accuracy": 0.5}',
        '[rank0] pipetune.report {"step": 2, "accuracy": 0.75}',
    ]
    results = results_from_log(lines)
    assert results is not None
    assert results.metrics == {"accuracy": 0.75}
    assert results.history == [{"step": 1, "accuracy": 0.5}, {"step": 2, "accuracy": 0.75}]


def test_no_metrics_and_non_numbers_give_nothing() -> None:
    assert results_from_log(["hello", "name=", "path=/tmp/x", "nan=nan"]) is None


def test_a_results_file_without_metrics_does_not_hide_the_logs(tmp_path) -> None:
    """Found running PBT: a trial that reports Katib StdOut lines and saves checkpoints has a
    results.yaml holding only its checkpoint, and its metrics were lost."""
    from pipetune.contract import Checkpoint, Results, collect_results, write_results

    write_results(Results(checkpoint=Checkpoint("/c/ckpt-000003", 3)), tmp_path)
    results = collect_results(tmp_path, ["epoch 1: acc=0.5", "epoch 2: acc=0.7"])
    assert results.metrics == {"acc": 0.7}
    assert results.checkpoint.uri == "/c/ckpt-000003"
    with_metrics = Results(metrics={"acc": 0.9})
    write_results(with_metrics, tmp_path)
    assert collect_results(tmp_path, ["acc=0.1"]).metrics == {"acc": 0.9}  # results.yaml wins
