"""Metric fixtures from scikit-learn (tests/unit/test_data_metrics.cpp).

metrics_<case>.safetensors: one set of labels and predictions and what scikit-learn computes
from it, with labels=range(C) (every class counts, as in xmkd's ConfusionMatrix) and
zero_division=0. Keys:
    labels, predictions        int64, same shape; label 255 = ignored (segmentation case only)
    num_classes                int64 (1,)
    confusion                  int64 (C, C), rows true class: confusion_matrix
    accuracy_bits              accuracy_score
    macro_f1_bits              f1_score(average='macro')
    weighted_f1_bits           f1_score(average='weighted')
    per_class_f1_bits          f1_score(average=None), (C,)
    per_class_iou_bits         jaccard_score(average=None), (C,), NaN where TP + FP + FN = 0
    mean_iou_bits              nanmean of per_class_iou
The *_bits tensors hold float64 values as their bit patterns in int64 (the shared writer carries
no F64). Ignored pixels are removed before scikit-learn sees them.
"""
import os

import numpy as np
import sklearn
import torch
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, jaccard_score

from torch_fixtures._common import save_safetensors

IGNORE = 255


def _bits(values):
    return torch.from_numpy(np.ascontiguousarray(np.asarray(values, dtype=np.float64).reshape(-1)).view(np.int64).copy())


def _noisy_predictions(rng, labels, num_classes, correct):
    wrong = rng.integers(0, num_classes, size=labels.shape)
    return np.where(rng.random(labels.shape) < correct, labels, wrong)


def _cases():
    rng = np.random.default_rng(20240611)
    cases = {}

    y = rng.integers(0, 5, size=300)
    cases["basic"] = (y, _noisy_predictions(rng, y, 5, 0.65), 5, "5 classes, 65% correct")

    y = rng.integers(0, 6, size=250)
    p = _noisy_predictions(rng, y, 6, 0.5)
    p[p == 3] = 4
    cases["missing_prediction"] = (y, p, 6, "class 3 is never predicted")

    y = rng.integers(0, 6, size=250)
    y[y == 1] = 2
    p = _noisy_predictions(rng, y, 6, 0.5)
    assert (p == 1).any()
    cases["missing_label"] = (y, p, 6, "class 1 is predicted but never true")

    y = rng.integers(0, 6, size=400)
    y[y == 4] = 0
    p = _noisy_predictions(rng, y, 6, 0.6)
    p[p == 2] = 3
    p[p == 6] = 5
    cases["absent_classes"] = (y, p, 7, "7 classes: 6 neither true nor predicted, 2 never predicted, 4 never true")

    y = rng.choice(4, size=500, p=[0.7, 0.2, 0.07, 0.03])
    cases["imbalanced"] = (y, _noisy_predictions(rng, y, 4, 0.7), 4, "skewed supports: weighted and macro F1 differ")

    y = rng.integers(0, 4, size=(3, 9, 11))
    p = _noisy_predictions(rng, y, 4, 0.7)
    y[rng.random(y.shape) < 0.12] = IGNORE
    cases["segmentation"] = (y, p, 5, "(3, 9, 11) label maps with ~12% ignored; class 4 absent (NaN IoU)")
    return cases


def _fixture(y, p, num_classes):
    keep = y.reshape(-1) != IGNORE
    yt, yp = y.reshape(-1)[keep], p.reshape(-1)[keep]
    labels = list(range(num_classes))
    cm = confusion_matrix(yt, yp, labels=labels)
    union = cm.sum(axis=0) + cm.sum(axis=1) - np.diag(cm)
    iou = jaccard_score(yt, yp, labels=labels, average=None, zero_division=0).astype(np.float64)
    iou[union == 0] = np.nan
    return {
        "labels": torch.from_numpy(y.astype(np.int64)),
        "predictions": torch.from_numpy(p.astype(np.int64)),
        "num_classes": torch.tensor([num_classes], dtype=torch.int64),
        "confusion": torch.from_numpy(cm.astype(np.int64)),
        "accuracy_bits": _bits(accuracy_score(yt, yp)),
        "macro_f1_bits": _bits(f1_score(yt, yp, labels=labels, average="macro", zero_division=0)),
        "weighted_f1_bits": _bits(f1_score(yt, yp, labels=labels, average="weighted", zero_division=0)),
        "per_class_f1_bits": _bits(f1_score(yt, yp, labels=labels, average=None, zero_division=0)),
        "per_class_iou_bits": _bits(iou),
        "mean_iou_bits": _bits(np.nanmean(iou)),
    }


def write(out_dir):
    paths = []
    for name, (y, p, num_classes, description) in _cases().items():
        path = os.path.join(out_dir, f"metrics_{name}.safetensors")
        meta = {"case": description, "scikit-learn": sklearn.__version__}
        paths.append(save_safetensors(path, _fixture(y, p, num_classes), meta))
    return paths
