"""One scenario table, two engines: the local runner and the compiled state machine (moto's Step Functions
interpreter, the Lambda handlers in-process, real training jobs) visit the same states in the same order."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mlops.backends.aws.training_job import training_job_request
from mlops.cost import states_entered, usage_of
from mlops.pipeline.flow import FLOW, Flow
from mlops.pipeline.models import OperatorDecision
from mlops.settings import Settings
from tests.aws.conftest import JOB_CONFIG
from tests.aws.engines import TRAINING_SOURCE, LocalEngine, MotoEngine, Walk
from tests.pipeline.conftest import IRIS, WEAK_TREE

TRAIN = ["BuildTrainingJob", "Train", "Evaluate", "Gate"]
START = ["PrepareData", *TRAIN]
VERIFIES = ["Register", "Verify", "RecordVerification", "VerifyChoice"]
PASSES = [*VERIFIES, "PublishSucceeded", "Succeeded"]
ASKS = ["AwaitOperator", "ApplyOperatorAnswer", "OperatorChoice"]
FAILS = ["PublishFailed", "Failed"]
QUICK_WAIT = 1  # seconds: the operator's wait of the timeout scenario


def retrain(engine: Any, walk: Walk, **overrides: Any) -> Walk:
    return engine.answer(walk, OperatorDecision(action="retrain", overrides=overrides, actor="octocat"))


def abort(engine: Any, walk: Walk) -> Walk:
    return engine.answer(walk, OperatorDecision(action="abort", reason="labels need cleaning", actor="octocat"))


def nobody_answers(engine: Any, walk: Walk) -> Walk:
    time.sleep(QUICK_WAIT + 0.5)
    if isinstance(engine, LocalEngine):  # the local runner learns of the timeout when an answer comes late
        return retrain(engine, walk, max_depth=5)
    return engine._settled(walk)


def corrupt_registered_models(engine: Any) -> None:
    store = engine.services.ports.store
    put_tree = store.put_tree

    def corrupting(prefix: str, source_dir: Path) -> list[str]:
        if prefix.startswith("models/"):
            for model_file in source_dir.glob("model.*"):
                model_file.write_bytes(b"not a model")
        return put_tree(prefix, source_dir)

    store.put_tree = corrupting


@dataclasses.dataclass
class Scenario:
    request: dict[str, Any]
    states: list[str]
    status: str
    passed: list[bool | None]  # each attempt's gate result (None: never evaluated)
    answers: tuple[Callable[[Any, Walk], Walk], ...] = ()
    before: Callable[[Any, Path], None] = lambda engine, tmp_path: None
    flow: Flow = FLOW


def _passing_run_then(change: Callable[[Any, Path], None]) -> Callable[[Any, Path], None]:
    def before(engine: Any, tmp_path: Path) -> None:
        assert engine.start(**IRIS).run.status == "succeeded"
        change(engine, tmp_path)

    return before


QUICK_WAIT_STATE = dataclasses.replace(FLOW["AwaitOperator"], timeout_seconds=QUICK_WAIT)
QUICK_FLOW = dataclasses.replace(FLOW, states={**FLOW.states, "AwaitOperator": QUICK_WAIT_STATE})
SCENARIOS = {
    "pass first time": Scenario(IRIS, [*START, *PASSES], "succeeded", [True]),
    "miss, retrain, pass": Scenario(
        WEAK_TREE,
        [*START, *ASKS, *TRAIN, *PASSES],
        "succeeded",
        [False, True],
        (lambda e, w: retrain(e, w, max_depth=5),),
    ),
    "retrains exhausted": Scenario(
        {**WEAK_TREE, "max_retry": 1},
        [*START, *ASKS, *TRAIN, *FAILS],
        "failed",
        [False, False],
        (lambda e, w: retrain(e, w, min_samples_leaf=2),),
    ),
    "training fails three times": Scenario(
        IRIS,
        ["PrepareData", "BuildTrainingJob", "Train", "HandleFailure", *FAILS],
        "failed",
        [None],
        before=_passing_run_then(lambda engine, tmp_path: engine.crash_training(tmp_path)),
    ),
    "training rejects its input": Scenario(
        IRIS,
        [*START[:-1], "HandleFailure", *FAILS],
        "failed",
        [None],
        before=lambda engine, tmp_path: engine.reject_input(tmp_path),
    ),
    "operator aborts": Scenario(WEAK_TREE, [*START, *ASKS, *FAILS], "failed", [False], (abort,)),
    "operator's wait times out": Scenario(
        WEAK_TREE,
        [*START, "AwaitOperator", "OperatorTimedOut", *FAILS],
        "failed",
        [False],
        (nobody_answers,),
        flow=QUICK_FLOW,
    ),
    "verification fails, automatic rollback": Scenario(
        IRIS,
        [*START, *VERIFIES, "Rollback", *FAILS],
        "failed",
        [True],
        before=_passing_run_then(lambda engine, tmp_path: corrupt_registered_models(engine)),
    ),
}


def assert_what_the_training_ran_on(engine: Any, training: Any) -> None:
    """For the cost estimate: SageMaker's billed seconds and instances; the local trainer bills nothing."""
    ran_on = (training.billable_seconds, training.instance_type, training.instance_count)
    if engine.name == "local":
        assert ran_on == (None, None, None)
    else:
        assert training.billable_seconds >= 1 and ran_on[1:] == ("ml.m5.large", 1)


@pytest.fixture(params=["local", "moto"])
def engine_for(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[Flow], Any]]:
    settings = Settings(home=tmp_path / "home", history_dir=tmp_path / "history", retry_base_delay=0.01,
                        train_timeout=600)
    made: list[Any] = []

    def make(flow: Flow) -> Any:
        if request.param == "local":
            made.append(LocalEngine(settings, flow))
        else:
            made.append(MotoEngine(settings, request.getfixturevalue("sfn"), request.getfixturevalue("monkeypatch"),
                                   flow))
        return made[-1]

    yield make
    for engine in made:
        engine.close()


@pytest.mark.slow
@pytest.mark.parametrize("scenario", SCENARIOS.values(), ids=SCENARIOS.keys())
def test_both_engines_walk_the_scenario_through_the_same_states(engine_for, scenario: Scenario, tmp_path) -> None:
    # GIVEN an engine (and what the scenario needs before its run)
    engine = engine_for(scenario.flow)
    scenario.before(engine, tmp_path)
    # WHEN the run starts, and the operator answers as the scenario says
    walk = engine.start(**scenario.request)
    for answer in scenario.answers:
        assert walk.states[-1] == "AwaitOperator", walk.states
        walk = answer(engine, walk)
    # THEN it visited exactly these states, in this order, and ended as expected
    assert walk.states == scenario.states
    assert walk.run is not None and walk.run.status == scenario.status, walk.run
    assert [attempt.passed for attempt in walk.run.attempts] == scenario.passed
    assert walk.run.report and engine.settings.history_dir.joinpath(Path(walk.run.report).name).is_file()
    if scenario.status == "succeeded":
        assert_what_the_training_ran_on(engine, walk.run.training)
    assert_the_cost_estimate_counts_what_the_engine_did(engine, walk)
    rejected = walk.run.error is not None and walk.run.error.type == "TrainingRejected"
    if "HandleFailure" in scenario.states and not rejected:  # a crashing job: retried 3 times with back-off
        assert walk.run.attempts[0].tries == 4 and "out of memory" in walk.run.error.message
        assert engine.delays == [0.01, 0.02, 0.04] if engine.name == "local" else engine.delays == [2, 4, 8]
    if rejected:  # failed at once, without a retry, with the entry point's reason
        assert walk.run.attempts[0].tries == 1 and engine.delays == []
        assert "n_estimator" in walk.run.error.message and "retrying would not help" in walk.run.error.message
    if "Rollback" in scenario.states:
        assert walk.run.rolled_back_to == "v1.0.0"
        assert engine.services.ports.registry.current("iris-classifier") == "v1.0.0"


def assert_the_cost_estimate_counts_what_the_engine_did(engine: Any, walk: Walk) -> None:
    """The cost estimate rebuilds the states entered from the document alone (moto's Catch names no state), and
    the published report has a cost section exactly when a SageMaker job trained the run."""
    assert walk.run is not None
    assert states_entered(walk.run) == walk.states
    retries = sum(max(attempt.tries - 1, 0) for attempt in walk.run.attempts)
    assert usage_of(walk.run).transitions == len(walk.states) + retries
    report = engine.settings.history_dir.joinpath(Path(str(walk.run.report)).name).read_text(encoding="utf-8")
    trained_by_sagemaker = engine.name == "moto" and walk.run.training is not None
    assert ("## コスト見積もり" in report) == trained_by_sagemaker, report


@pytest.mark.slow
def test_the_compiled_states_send_the_request_training_job_request_builds(engine_for) -> None:
    # GIVEN the state machine deployed with the deployment's values as DefinitionSubstitutions
    engine = engine_for(FLOW)
    if engine.name == "local":
        pytest.skip("the local runner sends no CreateTrainingJob")
    # WHEN a run that asks for its own instance type and a warm pool trains and verifies
    walk = engine.start(**IRIS, resources={"instance_type": "ml.c5.xlarge", "volume_gb": 50, "warm_pool_seconds": 600})
    assert walk.run.status == "succeeded", walk.run.error
    # THEN each job's request is exactly what training_job_request builds from the run's job description, bar
    # moto's own metric definitions, and it carries the script-mode source of the deployment and the resources
    train, verification = engine.requests(walk)
    assert train["ResourceConfig"] == {"InstanceType": "ml.c5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 50,
                                       "VolumeKmsKeyId": JOB_CONFIG.kms_key_id, "KeepAlivePeriodInSeconds": 600}
    assert train == training_job_request(walk.run.job, JOB_CONFIG, try_number=1)
    assert verification == training_job_request(walk.run.verification_job, JOB_CONFIG, try_number=1)
    assert json.loads(train["HyperParameters"]["sagemaker_submit_directory"]) == TRAINING_SOURCE
    assert [d["Name"] for d in train["AlgorithmSpecification"]["MetricDefinitions"]][:1] == ["accuracy"]
    assert json.loads(verification["HyperParameters"]["mlops_mode"]) == "verify"
    assert verification["InputDataConfig"][0]["ChannelName"] == "model"
