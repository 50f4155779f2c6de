"""The scenario table of the flow, run against the local engine: each path a user can meet, end to end."""

from __future__ import annotations

import pytest

from mlops.errors import InvalidRequest, RunStateError
from mlops.pipeline.models import OperatorDecision
from tests.pipeline.conftest import IRIS, WEAK_TREE, wrapper_script


def test_miss_then_retrain_then_pass(engine) -> None:
    # GIVEN a stump that cannot reach 0.9 accuracy on iris
    run = engine.run(**WEAK_TREE)
    # THEN the run pauses for an operator, with nothing registered
    assert run.status == "awaiting_operator"
    assert run.gate is not None and not run.gate.passed and run.gate.decision == "retrain"
    assert engine.registry.versions("iris-tree") == []
    # WHEN the operator deepens the tree
    run = engine.retrain(run, max_depth=5)
    # THEN the second attempt passes and is registered with the merged settings
    assert run.status == "succeeded", run.events
    assert [a.passed for a in run.attempts] == [False, True]
    assert run.attempts[1].overrides == {"max_depth": 5}
    assert run.attempts[1].hyperparameters["max_depth"] == 5
    assert engine.registry.current("iris-tree") == "v1.0.0"
    report = (engine.settings.history_dir / f"{run.training_id}.md").read_text()
    assert "max_depth" in report and "## 試行履歴" in report
    assert (run.data.rows_train, run.data.rows_test) == (120, 30)  # iris: 150 rows, a fifth held out
    assert "学習データサイズ: 120件" in report


def test_retrains_exhausted_fails_cleanly(engine) -> None:
    run = engine.run(**{**WEAK_TREE, "max_retry": 1})
    run = engine.retrain(run, min_samples_leaf=2)  # still a stump: misses again
    assert run.status == "failed"
    assert run.gate is not None and run.gate.decision == "exhausted"
    assert len(run.attempts) == 2
    assert engine.registry.versions("iris-tree") == []
    with pytest.raises(RunStateError, match="already failed"):
        engine.retrain(run, max_depth=5)


def test_operator_abort_ends_the_run(engine) -> None:
    run = engine.run(**WEAK_TREE)
    run = engine.abort(run, "the labels need cleaning first")
    assert run.status == "failed"
    assert run.operator is not None and run.operator.reason == "the labels need cleaning first"
    assert engine.registry.versions("iris-tree") == []
    report = (engine.settings.history_dir / f"{run.training_id}.md").read_text()
    assert "the labels need cleaning first" in report


def test_invalid_retrain_leaves_the_run_paused(engine) -> None:
    run = engine.run(**WEAK_TREE)
    with pytest.raises(InvalidRequest, match="max_dept"):
        engine.retrain(run, max_dept=5)
    with pytest.raises(InvalidRequest, match="out of range"):
        engine.retrain(run, max_depth=-3)
    assert engine.services.runs.load(run.training_id)[0].status == "awaiting_operator"
    assert engine.retrain(run, max_depth=4).status == "succeeded"


def test_training_crashes_three_times_keeps_the_previous_model(engine, tmp_path) -> None:
    # GIVEN a model with a current version
    assert engine.run(**IRIS).status == "succeeded"
    # WHEN the next training crashes on every try
    crashing = engine.with_settings(
        train_command=wrapper_script(
            tmp_path / "crash.py", "print('[mlops] error out of memory', file=sys.stderr); sys.exit(137)"
        )
    )
    run = crashing.run(**{**IRIS, "hyperparameters": {"n_estimators": 50}})
    # THEN it was retried 3 times with back-off, failed, and v1.0.0 is still current
    assert run.status == "failed"
    assert run.attempts[0].tries == 4
    assert run.error is not None and run.error.type == "TrainingCrashed" and "out of memory" in run.error.message
    assert sum("retry" in e.message for e in run.events) == 3
    assert crashing.registry.current("iris-classifier") == "v1.0.0"
    assert len(crashing.registry.versions("iris-classifier")) == 1


def test_a_crash_then_success_is_retried_transparently(engine, tmp_path) -> None:
    counter = tmp_path / "count"
    flaky = engine.with_settings(
        train_command=wrapper_script(
            tmp_path / "flaky.py",
            (
                f"p = {str(counter)!r}\nn = int(open(p).read()) if os.path.exists(p) else 0\n"
                "open(p, 'w').write(str(n + 1))\nif n < 2: sys.exit(1)"
            ),
        )
    )
    run = flaky.run(**IRIS)
    assert run.status == "succeeded"
    assert run.attempts[0].tries == 3


def test_training_that_rejects_its_input_fails_at_once_with_the_reason(engine, tmp_path) -> None:
    # GIVEN a job whose hyperparameters the entry point refuses (a misspelt one slipped past the request check)
    misspelt = engine.with_settings(
        train_command=wrapper_script(
            tmp_path / "misspelt.py",
            "import json\nhps = json.loads(os.environ['SM_HPS'])\nhps['n_estimator'] = 5\n"
            "os.environ['SM_HPS'] = json.dumps(hps)",
        )
    )
    # WHEN the run trains
    run = misspelt.run(**IRIS)
    # THEN it failed on the first try, without a retry, saying what the entry point refused
    assert run.status == "failed"
    assert run.training is not None and run.training.tries == 1
    assert not any("; retry " in e.message for e in run.events)
    assert run.error is not None and run.error.type == "TrainingRejected", run.error
    assert "n_estimator" in run.error.message and "retrying would not help" in run.error.message
    assert misspelt.registry.versions("iris-classifier") == []


def _corrupt_models_on_their_way_into_the_store(engine, content: bytes) -> None:
    """A bad disk or a bad upload: the registered copy of the model is not what training wrote."""
    store = engine.services.ports.store
    original_put_tree = store.put_tree

    def corrupting_put_tree(prefix, source_dir):
        if prefix.startswith("models/"):
            for model_file in source_dir.glob("model.*"):
                model_file.write_bytes(content)
        return original_put_tree(prefix, source_dir)

    store.put_tree = corrupting_put_tree


def test_verification_failure_rolls_back_automatically(engine) -> None:
    # GIVEN v1.0.0 is current
    assert engine.run(**IRIS).status == "succeeded"
    # WHEN the next registered artifact is corrupted on its way into the store
    _corrupt_models_on_their_way_into_the_store(engine, b"not a model")
    run = engine.run(**{**IRIS, "hyperparameters": {"n_estimators": 40}})
    # THEN Verify catches it and the previous version is current again, and the history says so
    assert run.status == "failed"
    assert run.verify is not None and not run.verify.ok
    assert run.verify.detail.startswith("cannot load the model in "), run.verify.detail
    assert run.rolled_back_to == "v1.0.0"
    assert engine.registry.current("iris-classifier") == "v1.0.0"
    kinds = [entry["kind"] for entry in engine.history.entries()]
    assert kinds.count("rollback") == 1
    assert engine.history.verify() == []


def test_verification_failure_of_a_first_version_leaves_no_current_model(engine) -> None:
    _corrupt_models_on_their_way_into_the_store(engine, b"garbage")
    run = engine.run(**IRIS)
    assert run.status == "failed"
    assert run.verify is not None and run.verify.detail.startswith("cannot load the model in "), run.verify
    assert engine.registry.current("iris-classifier") is None


def test_versions_bump_by_what_changed(engine) -> None:
    assert engine.run(**IRIS).registered.version == "v1.0.0"
    assert engine.run(**IRIS).registered.version == "v1.0.1"  # same settings
    changed = engine.run(**{**IRIS, "hyperparameters": {"n_estimators": 25, "max_depth": 5}})
    assert changed.registered.version == "v1.1.0"
    other = engine.run(**{**IRIS, "algorithm": "gradient_boosting", "hyperparameters": {"n_estimators": 20}})
    assert other.registered.version == "v2.0.0"


def test_an_answer_after_the_wait_timeout_ends_the_run(engine) -> None:
    import dataclasses

    from mlops.pipeline.flow import FLOW
    from mlops.pipeline.runner import LocalRunner

    # GIVEN a paused run, and an engine whose operator wait times out at once
    run = engine.run(**WEAK_TREE)
    impatient = dataclasses.replace(
        FLOW, states={**FLOW.states, "AwaitOperator": dataclasses.replace(FLOW["AwaitOperator"], timeout_seconds=0)}
    )
    runner = LocalRunner(engine.services.ports, engine.services.runs, flow=impatient)
    # WHEN the operator answers late
    run = runner.resume(run.training_id, OperatorDecision(action="retrain", overrides={"max_depth": 5}))
    # THEN the run ends as timed out instead of retraining, and says why
    assert run.status == "failed"
    assert run.operator is not None and run.operator.action == "abort" and "no operator answer" in run.operator.reason
    assert len(run.attempts) == 1
