"""The cost estimate counts the states a run entered from its document alone: on both engines (the compiled state
machine in moto's Step Functions interpreter, whose Catch names no state, and the local runner), for every
scenario of the engines' table, the states rebuilt from the final document are the states the engine entered; and
the report the run published carries the estimate exactly when SageMaker trained the run."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops.cost import states_entered, usage_of
from tests.aws.test_engines import SCENARIOS, Scenario, engine_for  # noqa: F401  (engine_for: a fixture)


@pytest.mark.slow
@pytest.mark.parametrize("scenario", SCENARIOS.values(), ids=SCENARIOS.keys())
def test_the_states_rebuilt_from_the_document_are_the_states_entered(engine_for, scenario: Scenario,  # noqa: F811
                                                                     tmp_path: Path) -> None:
    # GIVEN an engine WHEN the scenario's run goes as the scenario says
    engine = engine_for(scenario.flow)
    scenario.before(engine, tmp_path)
    walk = engine.start(**scenario.request)
    for answer in scenario.answers:
        walk = answer(engine, walk)
    assert walk.run is not None and walk.states == scenario.states
    # THEN the cost estimate's count of states entered is the engine's own
    assert states_entered(walk.run) == walk.states
    retries = sum(max(attempt.tries - 1, 0) for attempt in walk.run.attempts)
    assert usage_of(walk.run).transitions == len(walk.states) + retries
    # AND the published report has a cost section exactly when a SageMaker job trained the run
    report = engine.settings.history_dir.joinpath(Path(str(walk.run.report)).name).read_text(encoding="utf-8")
    trained_by_sagemaker = engine.name == "moto" and walk.run.training is not None
    assert ("## コスト見積もり" in report) == trained_by_sagemaker, report
