"""The benchmark problems of bench/algorithms.py: public test functions and cheap surrogates of
model-tuning surfaces, each a search space in a neutral form plus a function to minimise.

Every problem gives ``value(x, rng)``, what a trial reports (with noise for the noisy ones,
drawn from ``rng``), and ``true(x)``, the noiseless value regret is measured on. ``optimum``
is the known minimum (or, for the surrogates, the best value of the formula over its space,
computed analytically). Categories: multi-modal, ill-conditioned, deceptive, plateaus,
noisy, integer, log-scale, categorical and conditional spaces, 1 to 20 dimensions; hyperopt's
own test domains (``distractor``, ``n_arms``, ``gauss_wave``, ``q1_lognormal``) are among them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Param:
    """One parameter: ``kind`` is float, int or cat; ``log`` searches a range on the log scale."""

    name: str
    kind: str
    low: float = 0.0
    high: float = 1.0
    log: bool = False
    choices: tuple[Any, ...] = ()


X = Mapping[str, Any]


@dataclass(frozen=True)
class Problem:
    name: str
    params: tuple[Param, ...]
    true: Callable[[X], float]
    optimum: float
    tags: tuple[str, ...]
    noise: float = 0.0  # standard deviation of the reported value around ``true``
    #: A noise of its own (hyperopt's n_arms): replaces ``true + noise`` when given.
    sample: Callable[[X, np.random.Generator], float] | None = field(default=None)

    def value(self, x: X, rng: np.random.Generator) -> float:
        if self.sample is not None:
            return self.sample(x, rng)
        v = self.true(x)
        return v + float(rng.normal(0.0, self.noise)) if self.noise else v

    @property
    def dims(self) -> int:
        return len(self.params)

    @property
    def numeric(self) -> bool:
        return all(p.kind != "cat" for p in self.params)


def floats(n: int, low: float, high: float, prefix: str = "x") -> tuple[Param, ...]:
    return tuple(Param(f"{prefix}{i}", "float", low, high) for i in range(n))


def vec(x: X, n: int, prefix: str = "x") -> np.ndarray:
    return np.array([float(x[f"{prefix}{i}"]) for i in range(n)])


# -- classic test functions ------------------------------------------------------------------


def branin(x: X) -> float:
    x1, x2 = float(x["x0"]), float(x["x1"])
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


_H6_A = np.array([[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14],
                  [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]])
_H6_P = 1e-4 * np.array([[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
                         [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]])
_H3_A = np.array([[3.0, 10, 30], [0.1, 10, 35], [3.0, 10, 30], [0.1, 10, 35]])
_H3_P = 1e-4 * np.array([[3689, 1170, 2673], [4699, 4387, 7470], [1091, 8732, 5547], [381, 5743, 8828]])
_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])


def hartmann6(x: X) -> float:
    v = vec(x, 6)
    return float(-np.sum(_ALPHA * np.exp(-np.sum(_H6_A * (v - _H6_P) ** 2, axis=1))))


def hartmann3(x: X) -> float:
    v = vec(x, 3)
    return float(-np.sum(_ALPHA * np.exp(-np.sum(_H3_A * (v - _H3_P) ** 2, axis=1))))


def levy(n: int) -> Callable[[X], float]:
    def f(x: X) -> float:
        w = 1 + (vec(x, n) - 1) / 4
        head = math.sin(math.pi * w[0]) ** 2
        mid = np.sum((w[:-1] - 1) ** 2 * (1 + 10 * np.sin(math.pi * w[:-1] + 1) ** 2))
        tail = (w[-1] - 1) ** 2 * (1 + math.sin(2 * math.pi * w[-1]) ** 2)
        return float(head + mid + tail)

    return f


def ackley(n: int) -> Callable[[X], float]:
    def f(x: X) -> float:
        v = vec(x, n)
        return float(-20 * math.exp(-0.2 * math.sqrt(np.mean(v**2))) - math.exp(np.mean(np.cos(2 * math.pi * v)))
                     + 20 + math.e)

    return f


def rosenbrock(n: int) -> Callable[[X], float]:
    def f(x: X) -> float:
        v = vec(x, n)
        return float(np.sum(100 * (v[1:] - v[:-1] ** 2) ** 2 + (1 - v[:-1]) ** 2))

    return f


def rastrigin(n: int, prefix: str = "x") -> Callable[[X], float]:
    def f(x: X) -> float:
        v = vec(x, n, prefix)
        return float(10 * n + np.sum(v**2 - 10 * np.cos(2 * math.pi * v)))

    return f


def styblinski_tang(n: int) -> Callable[[X], float]:
    def f(x: X) -> float:
        v = vec(x, n)
        return float(np.sum(v**4 - 16 * v**2 + 5 * v) / 2)

    return f


def ellipsoid(n: int, condition: float) -> Callable[[X], float]:
    weights = condition ** (np.arange(n) / (n - 1))

    def f(x: X) -> float:
        v = vec(x, n) - 0.3  # off-centre, so the middle of the box is not the answer
        return float(np.sum(weights * v**2))

    return f


def schwefel(n: int) -> Callable[[X], float]:
    def f(x: X) -> float:
        v = vec(x, n)
        return float(418.9829 * n - np.sum(v * np.sin(np.sqrt(np.abs(v)))))

    return f


def step(n: int) -> Callable[[X], float]:
    def f(x: X) -> float:
        return float(np.sum(np.floor(vec(x, n) + 0.5) ** 2))

    return f


def michalewicz(n: int) -> Callable[[X], float]:
    def f(x: X) -> float:
        v = vec(x, n)
        i = np.arange(1, n + 1)
        return float(-np.sum(np.sin(v) * np.sin(i * v**2 / math.pi) ** 20))

    return f


def dixon_price(n: int) -> Callable[[X], float]:
    def f(x: X) -> float:
        v = vec(x, n)
        i = np.arange(2, n + 1)
        return float((v[0] - 1) ** 2 + np.sum(i * (2 * v[1:] ** 2 - v[:-1]) ** 2))

    return f


def six_hump_camel(x: X) -> float:
    a, b = float(x["x0"]), float(x["x1"])
    return (4 - 2.1 * a**2 + a**4 / 3) * a**2 + a * b + (-4 + 4 * b**2) * b**2


def sphere(n: int) -> Callable[[X], float]:
    def f(x: X) -> float:
        return float(np.sum((vec(x, n) - 0.2) ** 2))

    return f


# -- hyperopt's own test domains (hyperopt/tests/unit/test_domains.py) ------------------------


def distractor(x: X) -> float:
    v = float(x["x"])
    return -1 / (1 + math.exp(-v)) - 2 * math.exp(-((v + 10) ** 2))


def n_arms_mean(x: X) -> float:
    return -1.0 if x["arm"] == 0 else 0.0


def n_arms_sample(x: X, rng: np.random.Generator) -> float:
    return float(rng.normal(n_arms_mean(x), 1.0))


def gauss_wave(x: X) -> float:
    t = float(x["x"]) + (math.pi if x["curve"] == "shifted" else 0.0)
    return -(math.sin(t) + 2 * math.exp(-((t / 5) ** 2)))


def q1_lognormal(x: X) -> float:
    return min(0.1 * (float(x["x"]) - 10) ** 2, 10)


# -- surrogates of model-tuning surfaces -------------------------------------------------------
#
# Smooth formulas with the shapes real tuning surfaces have: a learning rate that matters on
# the log scale with a cliff above the best, regularisation with a broad optimum, integer
# capacity with diminishing returns, categorical choices that shift the whole surface, and
# parameters that matter only under one choice (conditional). Their optima are worked out in
# the comments, as the lowest value of each term.


def svm_like(x: X) -> float:
    """Validation error of an SVM: kernel (categorical), log C, log gamma, int degree (poly only)."""
    lc, lg = math.log10(float(x["C"])), math.log10(float(x["gamma"]))
    kernel = x["kernel"]
    if kernel == "rbf":
        err = 0.05 + 0.02 * (lc - 1.5) ** 2 + 0.04 * (lg + 2.5) ** 2 + 0.01 * (lc - 1.5) * (lg + 2.5)
    elif kernel == "poly":
        d = int(x["degree"])
        err = 0.07 + 0.015 * (lc - 0.5) ** 2 + 0.03 * (lg + 1.5) ** 2 + 0.02 * (d - 3) ** 2
    elif kernel == "linear":
        err = 0.11 + 0.01 * (lc + 0.5) ** 2  # gamma does not matter
    else:  # sigmoid
        err = 0.15 + 0.02 * (lc) ** 2 + 0.02 * (lg + 3) ** 2
    return min(err, 0.6)  # a failed fit scores chance level


SVM_OPTIMUM = 0.05


def xgboost_like(x: X) -> float:
    """Validation loss of gradient boosting: int depth, log learning rate, subsample,
    colsample, log min_child_weight, int n_estimators (log), categorical booster."""
    depth = int(x["max_depth"])
    lr = math.log10(float(x["eta"]))
    n = math.log10(int(x["n_estimators"]))
    sub, col = float(x["subsample"]), float(x["colsample"])
    mcw = math.log10(float(x["min_child_weight"]))
    # lr and n trade off: the best is lr * n ~ constant (a ridge, ill-conditioned).
    ridge = 0.08 * (lr + n - 1.2) ** 2 + 0.01 * (n - 2.7) ** 2
    loss = 0.20 + ridge + 0.004 * (depth - 6) ** 2 + 0.1 * (sub - 0.8) ** 2 + 0.06 * (col - 0.6) ** 2
    loss += 0.02 * (mcw - 0.5) ** 2
    if x["booster"] == "dart":
        loss += 0.01
    elif x["booster"] == "gblinear":
        loss += 0.08
    return loss


XGB_OPTIMUM = 0.20


def mlp_conditional(x: X) -> float:
    """Validation loss of a small network: the optimizer decides which parameters matter
    (momentum for sgd, beta2 for adam), log lr whose best depends on the optimizer, dropout,
    int log width and int layers."""
    lr = math.log10(float(x["lr"]))
    width = math.log2(int(x["width"]))
    layers = int(x["layers"])
    loss = 0.30 + 0.01 * (width - 8) ** 2 + 0.02 * (layers - 3) ** 2 + 0.5 * (float(x["dropout"]) - 0.2) ** 2
    if x["optimizer"] == "sgd":
        loss += 0.05 * (lr + 1.5) ** 2 + 0.4 * (float(x["momentum"]) - 0.9) ** 2 + 0.02
    else:
        loss += 0.06 * (lr + 3.2) ** 2 + 0.3 * (float(x["beta2"]) - 0.99) ** 2
    if lr > -0.5:  # diverges
        loss = 2.5
    return loss


MLP_OPTIMUM = 0.30


def lr_schedule(x: X) -> float:
    """Loss of a fine-tuning run: log lr and log weight decay (both log-scale), warmup ratio,
    with a cliff where training diverges (lr above 10^-2.5 without warmup)."""
    lr, wd = math.log10(float(x["lr"])), math.log10(float(x["weight_decay"]))
    warm = float(x["warmup"])
    loss = 0.5 + 0.3 * (lr + 4) ** 2 + 0.05 * (wd + 3) ** 2 + 0.4 * (warm - 0.1) ** 2
    if lr > -2.5 + 2 * warm:
        loss += 3.0
    return loss


def batch_size_plateau(x: X) -> float:
    """Loss against log batch size (int, log scale) and epochs (int): flat over a wide range
    of batch sizes (a plateau), with the lr that suits a batch size moving with it."""
    bs = math.log2(int(x["batch_size"]))
    lr = math.log10(float(x["lr"]))
    epochs = int(x["epochs"])
    best_lr = -3 + 0.3 * (bs - 5)
    plateau = 0.0 if 4 <= bs <= 9 else 0.05 * (min(abs(bs - 4), abs(bs - 9))) ** 2
    return 1.0 + plateau + 0.2 * (lr - best_lr) ** 2 + 0.002 * (epochs - 40) ** 2 / 10


def int_rastrigin(x: X) -> float:
    return rastrigin(6, "k")(x)


P = Param


def _problems() -> list[Problem]:
    log = Param
    return [
        Problem("branin", (P("x0", "float", -5, 10), P("x1", "float", 0, 15)), branin, 0.397887, ("multi-modal",)),
        Problem("hartmann3", floats(3, 0, 1), hartmann3, -3.86278, ("multi-modal",)),
        Problem("hartmann6", floats(6, 0, 1), hartmann6, -3.32237, ("multi-modal",)),
        Problem("six_hump_camel", (P("x0", "float", -3, 3), P("x1", "float", -2, 2)), six_hump_camel,
                -1.031628, ("multi-modal",)),
        Problem("levy4", floats(4, -10, 10), levy(4), 0.0, ("multi-modal",)),
        Problem("ackley5", floats(5, -32.768, 32.768), ackley(5), 0.0, ("multi-modal",)),
        Problem("rastrigin10", floats(10, -5.12, 5.12), rastrigin(10), 0.0, ("multi-modal",)),
        Problem("styblinski_tang20", floats(20, -5, 5), styblinski_tang(20), -39.16617 * 20,
                ("multi-modal", "high-dimensional")),
        Problem("michalewicz5", floats(5, 0, math.pi), michalewicz(5), -4.687658, ("multi-modal", "deceptive")),
        Problem("schwefel4", floats(4, -500, 500), schwefel(4), 0.0, ("deceptive",)),
        Problem("rosenbrock4", floats(4, -5, 10), rosenbrock(4), 0.0, ("ill-conditioned",)),
        Problem("ellipsoid10", floats(10, -1, 1), ellipsoid(10, 1e4), 0.0, ("ill-conditioned",)),
        Problem("dixon_price8", floats(8, -10, 10), dixon_price(8), 0.0, ("ill-conditioned",)),
        Problem("step5", floats(5, -5, 5), step(5), 0.0, ("plateaus",)),
        Problem("noisy_sphere5", floats(5, -1, 1), sphere(5), 0.0, ("noisy",), noise=0.05),
        Problem("noisy_hartmann6", floats(6, 0, 1), hartmann6, -3.32237, ("noisy", "multi-modal"), noise=0.1),
        Problem("int_rastrigin6", tuple(P(f"k{i}", "int", -5, 5) for i in range(6)), int_rastrigin, 0.0,
                ("integer", "multi-modal")),
        Problem("distractor", (P("x", "float", -15, 15),), distractor, -2.0000454, ("hyperopt", "deceptive")),
        Problem("n_arms", (P("arm", "cat", choices=(0, 1)),), n_arms_mean, -1.0, ("hyperopt", "noisy", "finite"),
                sample=n_arms_sample),
        Problem("gauss_wave", (P("x", "float", -20, 20), P("curve", "cat", choices=("plain", "shifted"))),
                gauss_wave, -2.5266, ("hyperopt", "categorical")),
        Problem("q1_lognormal", (log("x", "float", 0.01, 1000, log=True),), q1_lognormal, 0.0, ("hyperopt", "log-scale")),
        Problem("svm_like", (P("kernel", "cat", choices=("rbf", "poly", "linear", "sigmoid")),
                             P("C", "float", 1e-3, 1e3, log=True), P("gamma", "float", 1e-5, 1e1, log=True),
                             P("degree", "int", 1, 6)), svm_like, SVM_OPTIMUM,
                ("categorical", "log-scale", "surrogate")),
        Problem("xgboost_like", (P("max_depth", "int", 1, 12), P("eta", "float", 1e-3, 1.0, log=True),
                                 P("n_estimators", "int", 10, 2000, log=True), P("subsample", "float", 0.3, 1.0),
                                 P("colsample", "float", 0.3, 1.0),
                                 P("min_child_weight", "float", 0.1, 100, log=True),
                                 P("booster", "cat", choices=("gbtree", "dart", "gblinear"))),
                xgboost_like, XGB_OPTIMUM, ("surrogate", "ill-conditioned", "integer", "log-scale")),
        Problem("mlp_conditional", (P("optimizer", "cat", choices=("sgd", "adam")),
                                    P("lr", "float", 1e-5, 1.0, log=True), P("momentum", "float", 0.0, 0.99),
                                    P("beta2", "float", 0.9, 0.9999), P("dropout", "float", 0.0, 0.7),
                                    P("width", "int", 16, 1024, log=True), P("layers", "int", 1, 8)),
                mlp_conditional, MLP_OPTIMUM, ("conditional", "surrogate", "log-scale")),
        Problem("lr_schedule", (P("lr", "float", 1e-6, 1e-1, log=True), P("weight_decay", "float", 1e-6, 1e-1, log=True),
                                P("warmup", "float", 0.0, 0.3)), lr_schedule, 0.5,
                ("log-scale", "surrogate", "deceptive")),
        Problem("batch_size_plateau", (P("batch_size", "int", 8, 4096, log=True), P("lr", "float", 1e-5, 1e-1, log=True),
                                       P("epochs", "int", 5, 100)), batch_size_plateau, 1.0,
                ("plateaus", "integer", "log-scale", "surrogate")),
    ]


PROBLEMS: dict[str, Problem] = {p.name: p for p in _problems()}
