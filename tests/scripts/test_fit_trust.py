"""The trust fit's arithmetic: temperature, calibration error, folds and the detector's whitening."""

from __future__ import annotations

import numpy as np
import pytest

from app.trust import Detector, softmax
from scripts.model.fit_trust import (
    expected_calibration_error,
    fit_detector,
    fit_temperature,
    stratified_folds,
    wilson_interval,
)


def _sampled(logits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Labels drawn from softmax(logits): a model that is calibrated by construction."""
    probabilities = softmax(logits)
    return np.array([rng.choice(len(row), p=row) for row in probabilities])


def test_the_fitted_temperature_undoes_a_known_overconfidence() -> None:
    rng = np.random.default_rng(0)
    true_logits = rng.normal(size=(4000, 6)) * 2
    gold = _sampled(true_logits, rng)
    # the model's logits are the true ones times 2: over-confident by a temperature of 2
    assert fit_temperature(true_logits * 2, gold) == pytest.approx(2.0, rel=0.1)


def test_calibration_error_is_small_when_calibrated_and_large_when_not() -> None:
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(4000, 6)) * 2
    gold = _sampled(logits, rng)
    assert expected_calibration_error(softmax(logits), gold) < 0.03
    assert expected_calibration_error(softmax(logits * 3), gold) > 0.1


def test_folds_partition_the_examples_and_spread_every_label() -> None:
    gold = np.repeat(np.arange(6), [50, 40, 30, 20, 10, 5])
    folds = stratified_folds(gold, 5)
    assert sorted(np.concatenate(folds).tolist()) == list(range(len(gold)))
    for fold in folds:
        assert np.bincount(gold[fold], minlength=6).tolist() == pytest.approx([10, 8, 6, 4, 2, 1], abs=1)


def test_with_every_component_the_detector_is_the_full_mahalanobis_distance() -> None:
    rng = np.random.default_rng(2)
    gold = np.repeat(np.arange(6), 100)
    features = rng.normal(size=(600, 8)) + gold[:, None] * 0.5
    whitening, means = fit_detector(features, gold, components=8)
    class_means = np.stack([features[gold == label].mean(axis=0) for label in range(6)])
    within = features - class_means[gold]
    precision = np.linalg.inv(within.T @ within / len(features))
    probe = rng.normal(size=(5, 8)) * 2
    expected = np.min([[(x - m) @ precision @ (x - m) for m in class_means] for x in probe], axis=1)
    assert Detector(whitening, means).scores(probe) == pytest.approx(expected, rel=1e-3)


def test_fewer_components_ignore_the_directions_left_out() -> None:
    rng = np.random.default_rng(3)
    gold = np.repeat(np.arange(6), 100)
    features = np.zeros((600, 4))
    features[:, 0] = gold * 3 + rng.normal(size=600)  # the classes live on the first axis
    features[:, 1:] = rng.normal(size=(600, 3)) * 0.01  # tight noise elsewhere
    whitening, means = fit_detector(features, gold, components=1)
    detector = Detector(whitening, means)
    moved_off_axis = np.array([[6.0, 5.0, 5.0, 5.0]])
    assert detector.scores(moved_off_axis)[0] < 1.0


def test_the_wilson_interval_matches_the_textbook_and_stays_inside_0_to_1() -> None:
    # 66 of 323: 20.4 %, interval about 16.4 to 25.2 % (worked by hand from the formula)
    low, high = wilson_interval(66, 323)
    assert (round(low, 3), round(high, 3)) == (0.164, 0.252)
    assert wilson_interval(0, 48)[0] == 0.0 < wilson_interval(0, 48)[1] < 0.08
    assert wilson_interval(48, 48)[1] == pytest.approx(1.0)
