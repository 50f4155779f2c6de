"""Side-by-side: what the whole local pipeline costs over a plain script doing the same training.

    python benchmarks/bench_pipeline.py [--repeat 3] [--skip-long] [--skip-concurrent]

(a) `mlops run` of a random forest (100 trees, depth 10) on breast-cancer vs. a plain script doing the same fit,
    predict and metrics (target: at most 1.5x);
(b) the same with a training that takes about 20 s (target: at most 1.1x);
(c) 10 runs started at once: all succeed with 10 distinct versions.
Both sides are measured as fresh processes, medians of --repeat runs, on the same machine in the same run.
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
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score
from sklearn.model_selection import train_test_split
X, y = load_breast_cancer(return_X_y=True)
Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.2, random_state=42, stratify=y)
model = RandomForestClassifier(n_estimators=int(sys.argv[1]), max_depth=10, random_state=42).fit(Xtr, ytr)
pred, proba = model.predict(Xte), model.predict_proba(Xte)[:, 1]
print(accuracy_score(yte, pred), precision_score(yte, pred), recall_score(yte, pred), f1_score(yte, pred),
      roc_auc_score(yte, proba))
"""
REQUEST = """learning_type: supervised
algorithm: random_forest
dataset_id: breast-cancer
model_id: bench-{tag}
hyperparameters: {{n_estimators: {trees}, max_depth: 10}}
evaluation_threshold: 0.5
"""


def timed(command: list[str], env: dict[str, str], cwd: Path) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(
            f"benchmark command failed ({result.returncode}): {' '.join(command)}\n{result.stderr[-2000:]}"
        )
    return elapsed


def environment(work: Path) -> dict[str, str]:
    return {**os.environ, "MLOPS_HOME": str(work / "home"), "MLOPS_HISTORY_DIR": str(work / "history")}


def compare(trees: int, repeat: int, work: Path, label: str, target: float) -> float:
    env = environment(work)
    request = work / f"request-{trees}.yml"
    request.write_text(REQUEST.format(tag=trees, trees=trees))
    plain = work / "plain.py"
    plain.write_text(PLAIN)
    # Warm the bundled dataset and the OS file cache once, for both sides alike.
    timed([sys.executable, "-m", "mlops.cli", "run", str(request)], env, work)
    plain_times = [timed([sys.executable, str(plain), str(trees)], env, work) for _ in range(repeat)]
    pipeline_times = [
        timed([sys.executable, "-m", "mlops.cli", "run", str(request)], env, work) for _ in range(repeat)
    ]
    ratio = statistics.median(pipeline_times) / statistics.median(plain_times)
    verdict = "OK" if ratio <= target else "OVER TARGET"
    print(
        f"{label:<44} plain {statistics.median(plain_times):6.2f} s   pipeline "
        f"{statistics.median(pipeline_times):6.2f} s   ratio {ratio:4.2f}x (target <= {target}x) {verdict}"
    )
    return ratio


def concurrent(work: Path, count: int = 10) -> None:
    env = environment(work)
    request = work / "concurrent.yml"
    request.write_text(REQUEST.format(tag="concurrent", trees=20))
    started = time.perf_counter()
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "mlops.cli", "run", str(request), "--json"],
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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--long-trees", type=int, default=15000, help="trees for a ~20 s training")
    parser.add_argument("--skip-long", action="store_true")
    parser.add_argument("--skip-concurrent", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mlops-bench-") as tmp:
        work = Path(tmp)
        compare(100, args.repeat, work, "(a) RF 100 trees, breast-cancer", 1.5)
        if not args.skip_long:
            compare(
                args.long_trees, max(1, args.repeat - 1), work, f"(b) RF {args.long_trees} trees (~20 s)", 1.1
            )
        if not args.skip_concurrent:
            concurrent(work)


if __name__ == "__main__":
    main()
