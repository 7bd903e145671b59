"""train-sklearn: a random forest on a scikit-learn bundled data set, reported in stages."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import pipetune
from pipetune.catalog import component_file
from pipetune.extras import require

DATASETS = ("breast_cancer", "wine", "iris", "digits")


def load_dataset(name: str) -> tuple[Any, Any]:
    """Features and labels of a data set that ships inside scikit-learn (no download)."""
    # scikit-learn is an optional extra (pipetune[sklearn]); a bad argument is reported without it.
    from sklearn import datasets

    if name not in DATASETS:
        pipetune.usage_error(f"train-sklearn: --dataset: expected one of {', '.join(DATASETS)}, got {name!r}")
    return getattr(datasets, f"load_{name}")(return_X_y=True)


def _max_features(text: str) -> Any:
    if text in ("sqrt", "log2"):
        return text
    try:
        value = float(text)
    except ValueError:
        pipetune.usage_error(
            f"train-sklearn: --max_features: expected sqrt, log2 or a fraction, got {text!r}"
        )
    if not 0.0 < value <= 1.0:
        pipetune.usage_error(f"train-sklearn: --max_features: expected a fraction in (0, 1], got {text!r}")
    return value


def main(argv: Sequence[str] | None = None) -> None:
    args = pipetune.parse_args(component_file("train-sklearn"), argv)
    # Optional extra (pipetune[sklearn]), loaded after the arguments are checked.
    require("sklearn", "train-sklearn")
    import joblib  # type: ignore[import-untyped]  # joblib ships no type information (no py.typed)
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import accuracy_score, f1_score, log_loss
    from sklearn.model_selection import train_test_split

    if args.n_estimators < 1 or args.stages < 1:
        pipetune.usage_error("train-sklearn: --n_estimators and --stages must be at least 1")
    if not 0.0 < args.test_size < 1.0:
        pipetune.usage_error(f"train-sklearn: --test_size: expected a fraction in (0, 1), got {args.test_size}")
    features, labels = load_dataset(args.dataset)
    x_train, x_test, y_train, y_test = train_test_split(
        features, labels, test_size=args.test_size, random_state=args.seed, stratify=labels
    )
    model = RandomForestClassifier(
        n_estimators=0,
        max_depth=args.max_depth,
        min_samples_split=args.min_samples_split,
        max_features=_max_features(args.max_features),
        criterion=args.criterion,
        random_state=args.seed,
        warm_start=True,
        n_jobs=1,
    )
    started = time.perf_counter()
    stages = min(args.stages, args.n_estimators)
    metrics: dict[str, float] = {}
    for stage in range(1, stages + 1):
        # Trees are added in stages (warm start), so the forest after the last stage is the
        # same as one fitted in one go, and every stage is a real intermediate result.
        model.n_estimators = round(args.n_estimators * stage / stages)
        model.fit(x_train, y_train)
        probabilities = model.predict_proba(x_test)
        predictions = model.classes_[probabilities.argmax(axis=1)]
        accuracy = float(accuracy_score(y_test, predictions))
        f1 = float(f1_score(y_test, predictions, average="macro"))
        loss = float(log_loss(y_test, probabilities, labels=model.classes_))
        metrics = {"accuracy": accuracy, "f1": f1, "log_loss": loss}
        pipetune.report(step=model.n_estimators, accuracy=accuracy, f1=f1, log_loss=loss)

    model_dir = pipetune.artifact_dir(args.model, "model")
    joblib.dump(model, model_dir / "model.joblib")
    pipetune.save_results(
        metrics={**metrics, "train_seconds": round(time.perf_counter() - started, 4)},
        outputs={
            "dataset": args.dataset,
            "n_train": int(len(y_train)),
            "n_test": int(len(y_test)),
            "n_classes": int(len(model.classes_)),
        },
        artifacts={"model": pipetune.artifact_ref(model_dir)},
    )


if __name__ == "__main__":
    main()
