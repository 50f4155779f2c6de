"""The scenario table of tests/aws/test_engines.py on the compiled state machine with the AWS adapters (S3,
DynamoDB, the SageMaker Model Registry, the S3 history; moto in-process): each run visits the same states in the
same order as the local runner's, ends the same way, and leaves its report in S3 in one verified chain."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlops.history import HistoryLog
from mlops.settings import Settings
from tests.aws.conftest import REGION
from tests.aws.engines import LocalEngine, Walk
from tests.aws.engines_aws import AUDIT, BUCKET, AwsMotoEngine
from tests.aws.test_engines import SCENARIOS, Scenario, assert_what_the_training_ran_on


def walk(engine: Any, scenario: Scenario, tmp_path: Path) -> Walk:
    scenario.before(engine, tmp_path)
    walked = engine.start(**scenario.request)
    for answer in scenario.answers:
        assert walked.states[-1] == "AwaitOperator", walked.states
        walked = answer(engine, walked)
    return walked


@pytest.fixture
def engines(tmp_path: Path, sfn: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    made: list[Any] = []

    def make(kind: str, scenario: Scenario) -> Any:
        settings = Settings(home=tmp_path / kind / "home", history_dir=tmp_path / kind / "history",
                            retry_base_delay=0.01, train_timeout=600)
        engine = LocalEngine(settings, scenario.flow) if kind == "local" else AwsMotoEngine(
            settings, sfn, monkeypatch, scenario.flow)
        made.append(engine)
        return engine

    yield make
    for engine in made:
        engine.close()


@pytest.mark.slow
@pytest.mark.parametrize("scenario", SCENARIOS.values(), ids=SCENARIOS.keys())
def test_the_state_machine_on_the_aws_adapters_walks_as_the_local_runner(
    engines: Any, scenario: Scenario, tmp_path: Path
) -> None:
    # GIVEN the local runner's walk of the scenario
    local = walk(engines("local", scenario), scenario, tmp_path)
    # WHEN the compiled state machine walks it with the AWS adapters behind its Lambdas
    aws = engines("aws", scenario)
    walked = walk(aws, scenario, tmp_path)
    # THEN it visits the same states in the same order, and ends as the local run did
    assert walked.states == local.states == scenario.states
    assert walked.run is not None and local.run is not None
    assert walked.run.status == local.run.status == scenario.status
    assert [a.passed for a in walked.run.attempts] == [a.passed for a in local.run.attempts] == scenario.passed
    assert (walked.run.registered is None) == (local.run.registered is None)
    if walked.run.registered is not None and local.run.registered is not None:
        assert walked.run.registered.version == local.run.registered.version
        assert walked.run.registered.registry_arn and walked.run.registered.registry_arn.startswith(
            "arn:aws:sagemaker:")
    # AND the run table holds the run's final document, ended (what `mlops runs` / `status` on AWS read)
    kept, next_state = aws.services.runs.load(walked.run.training_id)
    assert kept.model_dump(mode="json") == walked.run.model_dump(mode="json") and next_state is None
    outline = aws.services.runs.outline()  # a scenario's `before` may have run others first: all ended too
    assert (walked.run.training_id, True) in outline and all(ended for _, ended in outline)
    # AND its report is in S3 (and its audit copy), where the record mode will commit it, in one intact chain
    report = Path(walked.run.report or "").name
    assert walked.run.report == f"{aws.settings.history_dir}/{report}"
    s3 = aws.services.ports.store.s3
    for bucket in (BUCKET, AUDIT):
        assert s3.head_object(Bucket=bucket, Key=f"history/{report}")["ContentLength"] > 0
    with aws.services.ports.store.local_path("history") as directory:
        assert HistoryLog(directory).verify() == []
        text = (directory / report).read_text(encoding="utf-8")
    # AND the report names the model's S3 path (§7.2) and prices the run in the region it ran in
    if walked.run.registered is not None:
        assert f"s3://{BUCKET}/{walked.run.registered.artifact_key}" in text
    if walked.run.training is not None and walked.run.training.billable_seconds is not None:
        assert f"- region: {REGION}" in text and f"の {REGION} の価格" in text
    if scenario.status == "succeeded":
        assert_what_the_training_ran_on(aws, walked.run.training)
    rejected = walked.run.error is not None and walked.run.error.type == "TrainingRejected"
    if "HandleFailure" in scenario.states and not rejected:  # a crashing job: retried 3 times with back-off
        assert walked.run.attempts[0].tries == 4 and "out of memory" in walked.run.error.message
        assert aws.delays == [2, 4, 8]
    if rejected:  # failed at once, without a retry, with the entry point's reason
        assert walked.run.attempts[0].tries == 1 and aws.delays == []
        assert "n_estimator" in walked.run.error.message
    if "Rollback" in scenario.states:
        assert walked.run.rolled_back_to == "v1.0.0"
        assert aws.services.ports.registry.current("iris-classifier") == "v1.0.0"
