#!/usr/bin/env python3
"""What a classifier on the synthetic benchmark has learnt, factor by factor.

A scene class of the synthetic benchmark is three binary factors of its main object (docs/data.md,
"Classes"): its silhouette family (upright: box, cylinder; tapered: pyramid, cone), its colour
family (warm, cool) and which of two silhouette twins it is (box or cylinder; pyramid or cone).
Class c has family c // 4, twin (c // 2) % 2 and colour c % 2. RGB is built to see the family and
the colour but hardly the twin; depth the family and the twin, and the colour only weakly. For each
run and output this prints the accuracy and, per factor, the percentage of test samples whose
predicted class has the true value of that factor (chance: 50), mean ± sample std over the runs
that share a label (as `xmkd report` groups them: run.label, else the method) -- read from the confusion matrix in each run's eval.json.

  bench/factors.py RUN_DIR...        (classification runs on the synthetic benchmark)

Standard library only.
"""
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

FACTORS = {
    "family": lambda c: c // 4,
    "colour": lambda c: c % 2,
    "twin": lambda c: (c // 2) % 2,
}


def factor_accuracies(confusion):
    """Percent of samples (rows: true class, columns: predicted) per factor, and the accuracy."""
    total = sum(map(sum, confusion))
    result = {"accuracy": 100 * sum(confusion[i][i] for i in range(len(confusion))) / total}
    for name, factor in FACTORS.items():
        agree = sum(n for i, row in enumerate(confusion) for j, n in enumerate(row) if factor(i) == factor(j))
        result[name] = 100 * agree / total
    return result


def run_label(config):
    """As xmkd report groups runs: run.label, else the method (with the distillation kind for kd)."""
    label = config.get("run", {}).get("label")
    if label:
        return label
    method = config.get("method", {})
    label = method.get("name", "student")
    if label == "kd" and "distill" in method:
        label = method["distill"].get("kind", "kd") + ("+lskd" if method["distill"].get("lskd") else "")
    return label


def load(run):
    run = Path(run)
    try:
        evaluation = json.loads((run / "eval.json").read_text())
        config = json.loads((run / "config.json").read_text())
    except (OSError, json.JSONDecodeError) as error:
        sys.exit(f"factors.py: {run}: {error} (a finished run has eval.json and config.json)")
    if evaluation.get("task") != "classification":
        sys.exit(f"factors.py: {run}/eval.json: task is {evaluation.get('task')!r}, expected 'classification'")
    label = run_label(config)
    for output, metrics in evaluation["outputs"].items():
        confusion = metrics.get("confusion_matrix")
        if not confusion or len(confusion) != 8:
            sys.exit(f"factors.py: {run}/eval.json: outputs.{output}.confusion_matrix is not 8x8 "
                     "(the synthetic benchmark has 8 scene classes)")
        yield label, output, factor_accuracies(confusion)


def main(runs):
    if not runs:
        sys.exit(__doc__.strip())
    groups = defaultdict(list)
    for run in runs:
        for label, output, values in load(run):
            groups[(label, output)].append(values)
    columns = ["accuracy", *FACTORS]
    print("| run | output | n | " + " | ".join(columns) + " |")
    print("|---|---|---|" + "---|" * len(columns))
    for (label, output), values in groups.items():
        cells = []
        for column in columns:
            xs = [v[column] for v in values]
            cells.append(f"{statistics.mean(xs):.1f}" + (f" ± {statistics.stdev(xs):.1f}" if len(xs) > 1 else ""))
        print(f"| {label} | {output} | {len(values)} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
