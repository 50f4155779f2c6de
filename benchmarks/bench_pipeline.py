"""Side-by-side: what the whole local pipeline costs over a plain script doing the same training.

    python benchmarks/bench_pipeline.py [--repeat 3] [--skip-long] [--skip-concurrent] [--fresh-venv]

(a) `mlops run` of a random forest (100 trees, depth 10) on breast-cancer vs. a plain script doing the same fit,
    predict and metrics (target: at most 1.5x);
(b) the same forest on a 90,000-row synthetic dataset, where the run takes about 20 s (target: at most 1.1x);
(c) 10 runs started at once: all succeed with 10 distinct versions.
Both sides are measured as fresh processes, alternately, medians of --repeat runs, on the same machine in the
same run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PLAIN = """
import sys, time
import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score
train, test = (np.loadtxt(path, delimiter=",", skiprows=1) for path in sys.argv[2:4])
Xtr, ytr, Xte, yte = train[:, :-1], train[:, -1], test[:, :-1], test[:, -1]
model = RandomForestClassifier(n_estimators=int(sys.argv[1]), max_depth=10, random_state=42).fit(Xtr, ytr)
pred, proba = model.predict(Xte), model.predict_proba(Xte)[:, 1]
print(accuracy_score(yte, pred), precision_score(yte, pred), recall_score(yte, pred), f1_score(yte, pred),
      roc_auc_score(yte, proba))
"""
REQUEST = """learning_type: supervised
algorithm: random_forest
dataset_id: {dataset}
model_id: bench-{tag}
hyperparameters: {{n_estimators: {trees}, max_depth: 10}}
evaluation_threshold: 0.5
"""


def timed(command: list[str], env: dict[str, str], cwd: Path) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"benchmark command failed ({result.returncode}): {' '.join(command)}\n{result.stderr[-2000:]}")
    return elapsed


def environment(work: Path) -> dict[str, str]:
    env = {**os.environ, "MLOPS_HOME": str(work / "home"), "MLOPS_HISTORY_DIR": str(work / "history")}
    # As on a user's machine, compiled modules are cached (some sandboxes switch that off, which would make every
    # run compile this package afresh: a cost the plain script, being one file, hardly has).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def compare(
    python: str, dataset: str, repeat: int, work: Path, label: str, target: float, trees: int = 100
) -> float:
    env = environment(work)
    request = work / f"request-{dataset}.yml"
    request.write_text(REQUEST.format(tag=dataset, trees=trees, dataset=dataset))
    plain = work / "plain.py"
    plain.write_text(PLAIN)
    pipeline_command = [python, "-m", "mlops.cli", "run", str(request)]
    channels = [str(work / "home" / "store" / "datasets" / dataset / c / "data.csv") for c in ("train", "test")]
    plain_command = [python, str(plain), str(trees), *channels]
    # Warm the dataset and the OS file cache once, for both sides alike; both read the same CSV files.
    timed(pipeline_command, env, work)
    timed(plain_command, env, work)
    # Alternate the two, so that a machine that gets busier or quieter during the run affects both alike.
    plain_times, pipeline_times = [], []
    for _ in range(repeat):
        plain_times.append(timed(plain_command, env, work))
        pipeline_times.append(timed(pipeline_command, env, work))
    ratio = statistics.median(pipeline_times) / statistics.median(plain_times)
    verdict = "OK" if ratio <= target else "OVER TARGET"
    print(
        f"{label:<44} plain {statistics.median(plain_times):6.2f} s   pipeline "
        f"{statistics.median(pipeline_times):6.2f} s   ratio {ratio:4.2f}x (target <= {target}x) {verdict}"
    )
    return ratio


def concurrent(python: str, work: Path, count: int = 10) -> None:
    env = environment(work)
    request = work / "concurrent.yml"
    request.write_text(REQUEST.format(tag="concurrent", trees=20, dataset="breast-cancer"))
    started = time.perf_counter()
    processes = [
        subprocess.Popen(
            [python, "-m", "mlops.cli", "run", str(request), "--json"],
            env=env,
            cwd=work,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    outputs = [process.communicate() for process in processes]
    elapsed = time.perf_counter() - started
    codes = [process.returncode for process in processes]
    versions = {json.loads(out)["version"] for out, _ in outputs if out.strip()}
    ok = codes == [0] * count and len(versions) == count
    print(
        f"{count} runs at once: exit codes {sorted(set(codes))}, {len(versions)} distinct versions, "
        f"{elapsed:.1f} s in all ({elapsed / count:.2f} s per run) {'OK' if ok else 'FAILED'}"
    )


def write_large_dataset(work: Path, rows: int) -> str:
    """A synthetic classification dataset in the store's layout, big enough for a ~20 s fit."""
    import numpy as np
    from sklearn.datasets import make_classification

    x, y = make_classification(n_samples=rows, n_features=30, n_informative=10, random_state=0)
    root = work / "home" / "store" / "datasets" / "bench-large"
    header = ",".join([*(f"f{i}" for i in range(30)), "target"])
    split = int(rows * 0.8)
    for channel, part in (("train", slice(0, split)), ("test", slice(split, rows))):
        (root / channel).mkdir(parents=True)
        np.savetxt(
            root / channel / "data.csv",
            np.column_stack([x[part], y[part]]),
            delimiter=",",
            header=header,
            comments="",
            fmt="%.6g",
        )
    info = {"dataset_id": "bench-large", "target": "target", "task": "classification"}
    (root / "dataset.json").write_text(json.dumps(info))
    return "bench-large"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--long-rows", type=int, default=90_000, help="rows for a training of about 20 s")
    parser.add_argument("--skip-long", action="store_true")
    parser.add_argument("--skip-concurrent", action="store_true")
    parser.add_argument(
        "--fresh-venv",
        action="store_true",
        help="measure in a new virtual environment holding only what the Quickstart installs (.[train]), "
        "rather than in this one (a development one also holds pytest, which scikit-learn then imports too)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mlops-bench-") as tmp:
        work = Path(tmp)
        python = train_only_venv(work / "venv") if args.fresh_venv else sys.executable
        compare(python, "breast-cancer", args.repeat, work, "(a) RF 100 trees, breast-cancer", 1.5)
        if not args.skip_long:
            large = write_large_dataset(work, args.long_rows)
            label = f"(b) RF 100 trees, {args.long_rows:,} rows"
            compare(python, large, max(1, args.repeat - 1), work, label, 1.1)
        if not args.skip_concurrent:
            concurrent(python, work)


def train_only_venv(directory: Path) -> str:
    """A virtual environment with this project installed as a user installs it: `pip install ".[train]"`."""
    print(f"creating {directory} with pip install '.[train]' ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(directory)], check=True)
    python = str(directory / "bin" / "python")
    subprocess.run([python, "-m", "pip", "install", "--quiet", f"{REPO}[train]"], check=True)
    return python


if __name__ == "__main__":
    main()
