"""Adam and a seeded, deterministic mini-batch trainer (softmax cross-entropy)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tpu.errors import TpuError
from tpu.nn.layers import softmax_cross_entropy
from tpu.nn.model import Sequential


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 40
    batch_size: int = 32
    lr: float = 1e-2
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    seed: int = 0

    def __post_init__(self) -> None:
        if self.epochs < 0 or self.batch_size < 1 or self.lr <= 0:
            raise TpuError(f"invalid training settings: {self}")


class Adam:
    def __init__(self, model: Sequential, cfg: TrainConfig) -> None:
        self.model = model
        self.cfg = cfg
        self.t = 0
        self.m = {id(l.params[k]): np.zeros_like(l.params[k]) for l, k in model.parameters()}
        self.v = {id(l.params[k]): np.zeros_like(l.params[k]) for l, k in model.parameters()}

    def step(self) -> None:
        c = self.cfg
        self.t += 1
        b1t = 1 - c.beta1 ** self.t
        b2t = 1 - c.beta2 ** self.t
        for layer, k in self.model.parameters():
            p, g = layer.params[k], layer.grads[k]
            m, v = self.m[id(p)], self.v[id(p)]
            m += (1 - c.beta1) * (g - m)
            v += (1 - c.beta2) * (g * g - v)
            p -= (c.lr * (m / b1t) / (np.sqrt(v / b2t) + c.eps)).astype(np.float32)


def train(model: Sequential, x: np.ndarray, y: np.ndarray, cfg: TrainConfig = TrainConfig(),
          on_batch=None) -> list[float]:
    """Train in place; returns the mean loss of each epoch. ``on_batch(model)`` runs after a step."""
    rng = np.random.default_rng(cfg.seed)
    opt = Adam(model, cfg)
    history = []
    for _ in range(cfg.epochs):
        order = rng.permutation(len(x))
        losses = []
        for i in range(0, len(x), cfg.batch_size):
            idx = order[i:i + cfg.batch_size]
            logits = model.forward(x[idx], train=True)
            loss, grad = softmax_cross_entropy(logits, y[idx])
            model.backward(grad)
            opt.step()
            if on_batch is not None:
                on_batch(model)
            losses.append(loss)
        history.append(float(np.mean(losses)))
    return history


def accuracy(pred: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.asarray(pred) == np.asarray(y)))
