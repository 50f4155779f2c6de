"""The run document in the run table on AWS: what `mlops runs`, `mlops status` and the action's `/mlops status`
and `/mlops retrain` read. Step Functions carries the document from state to state; each Lambda invocation also
writes it to the table (DynamoRunStore), so the table holds the run as its last finished agent left it.

- PrepareData (the flow's first agent) creates the run's item and claims its issue, before any work. A retried
  invocation of the same training id finds its item and goes on (the execution name already makes one execution
  per request). A run of an issue another run still holds is refused with RunStateError: the flow catches it
  like any agent error, so the run ends failed and its issue is told why.
- Every agent's result is checkpointed with the state the run goes to next (a Choice resolved on the new
  document, as the state machine will), AwaitOperator's with itself (the run is paused there), and Publish's
  with None: the run has ended, and the issue's claim is released in the same transaction.
- A run with no item (its creation was refused, or it started before the Lambdas kept documents) is not
  recorded: a warning says so and the run goes on, so a refused run can still end and say why.
- A document over 256 KiB is refused by DynamoRunStore with RunStateError. That is raised, not swallowed: Step
  Functions could not pass the document on either (States.DataLimitExceeded, which no Catch matches), while a
  RunStateError is caught by the flow, so the run ends failed with a message that says what to do.
"""

from __future__ import annotations

from collections.abc import Callable

from mlops.backends.aws.dynamodb_runs import DynamoRunStore
from mlops.backends.aws.observability import logger
from mlops.errors import AwsConflict, RunStateError
from mlops.pipeline.flow import FLOW, AwaitOperator, Choice, End, Flow, Task
from mlops.pipeline.models import RunState

FIRST_AGENT = "prepare_data"
Work = Callable[[RunState], RunState]


def next_state(agent: str, run: RunState, flow: Flow = FLOW) -> str | None:
    """Where the run goes after `agent` returned `run`; None once it has ended (Publish)."""
    state = next(state for state in flow.states.values() if getattr(state, "agent", None) == agent)
    if isinstance(state, AwaitOperator):
        return state.name  # paused until an operator answers
    assert isinstance(state, Task)
    name = state.next
    while isinstance(flow[name], Choice):
        choice = flow[name]
        assert isinstance(choice, Choice)
        name = choice.next_for(run.model_dump(mode="json"))
    return None if isinstance(flow[name], End) else name


class RunRecord:
    """Keeps a Lambda's run in the run table around the agent's work."""

    def __init__(self, runs: DynamoRunStore, flow: Flow = FLOW) -> None:
        self.runs, self.flow = runs, flow

    def around(self, agent: str, work: Work) -> Work:
        def recorded(run: RunState) -> RunState:
            if agent == FIRST_AGENT:
                self.create(run)
            done = work(run)
            self.checkpoint(done, next_state(agent, done, self.flow))
            return done

        return recorded

    def create(self, run: RunState) -> None:
        try:
            self.runs.create(run, self.flow.start)
        except RunStateError:
            if self.runs.table.get(f"run#{run.training_id}", "run") is None:
                raise  # another run holds the issue: the message names it
            logger().info("run table: run %s exists already (a retried invocation): kept", run.training_id)

    def checkpoint(self, run: RunState, next_name: str | None) -> None:
        try:
            self.runs.checkpoint(run, next_name)
        except AwsConflict:
            logger().warning("run table: no item for run %s (its creation was refused, or it was made before "
                             "the Lambdas kept documents): this step is not recorded", run.training_id)
        except RunStateError as exc:
            logger().error("run table: run %s was not recorded: %s", run.training_id, exc)
            raise
