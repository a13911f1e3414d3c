"""SRR: Acc@n, the probe (linear / MLP), determinism given a seed."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from csip.eval.srr import ProbeConfig, accuracy_at_n, class_prior_accuracy, evaluate_probe, train_probe

pytestmark = pytest.mark.usefixtures("single_thread")


def _blobs(n=120, d=6, c=4, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, c, n)
    centres = rng.standard_normal((c, d)) * 3
    return (centres[y] + rng.standard_normal((n, d))).astype(np.float32), y


def test_accuracy_at_n_hand_case():
    logits = np.array([[3, 2, 1, 0], [0, 1, 2, 3], [1, 3, 2, 0]], dtype=np.float32)
    labels = np.array([0, 1, 0])
    acc = accuracy_at_n(logits, labels, ns=(1, 2, 3, 4, 5))
    assert acc[1] == pytest.approx(1 / 3)  # only row 0
    assert acc[2] == pytest.approx(1 / 3)  # row 2's label 0 is 3rd
    assert acc[3] == pytest.approx(1.0)  # row 1's label 1 is 3rd
    assert acc[4] == acc[5] == pytest.approx(1.0)  # n beyond the classes: clipped
    assert np.isnan(accuracy_at_n(np.zeros((0, 4)), np.zeros(0, int))[1])


def test_linear_and_mlp_probes_learn_and_are_monotone_in_n():
    x, y = _blobs()
    for kind, lr in (("linear", 1e-2), ("mlp", 1e-2)):
        res = evaluate_probe(
            x[:80],
            y[:80],
            x[100:],
            y[100:],
            n_classes=4,
            config=ProbeConfig(kind=kind, epochs=20, lr=lr, batch_size=16),
            x_val=x[80:100],
            y_val=y[80:100],
        )
        acc = res["acc"]
        assert acc[1] > 0.8, (kind, acc)
        assert all(acc[n] <= acc[n + 1] for n in range(1, 5))
        assert res["n_train"] == 80 and res["n_test"] == 20 and 1 <= res["best_epoch"] <= 20


def test_probe_is_deterministic_given_a_seed():
    x, y = _blobs(seed=1)
    xt = torch.from_numpy(x[90:])
    outs = []
    for seed in (3, 3, 4):
        m, _ = train_probe(x[:90], y[:90], 4, ProbeConfig(kind="mlp", epochs=5, seed=seed))
        with torch.no_grad():
            outs.append(m(xt))
    assert torch.equal(outs[0], outs[1])
    assert not torch.equal(outs[0], outs[2])


def test_probe_input_checks_and_prior():
    x, y = _blobs()
    with pytest.raises(ValueError):
        train_probe(x[:0], y[:0], 4)
    with pytest.raises(ValueError):
        train_probe(x, y + 10, 4)
    with pytest.raises(ValueError):
        ProbeConfig(kind="forest")  # noqa: B018 - accepted at construction ...
        train_probe(x, y, 4, ProbeConfig(kind="forest"))  # ... refused when used
    prior = class_prior_accuracy(np.array([2, 2, 2, 1, 1, 0]), np.array([2, 1, 0, 3]), n_classes=4)
    assert prior[1] == pytest.approx(0.25) and prior[2] == pytest.approx(0.5) and prior[4] == pytest.approx(1.0)
