"""Reinforcement learning: train an agent in a gymnasium environment, then evaluate its greedy policy.

There are no data channels. The agent classes (`mlops.learners.rl`) share one interface:
`cls(env_id, params, seed)`, `.train(progress) -> returns`, `.evaluate(episodes, seed) -> dict`,
`.save(model_dir)` and `cls.load(model_dir)`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mlops import metrics
from mlops.learners.catalog import AlgorithmSpec
from mlops.learners.sklearn_learner import import_implementation
from mlops.training import console, plots
from mlops.training.job import Job, Outcome

# Evaluation episodes are seeded apart from the training episodes, so the policy is judged on fresh starts.
EVALUATION_SEED_OFFSET = 1_000_003
HOLDOUT_EPISODES = 20  # evaluation episodes the Verify step replays


def agent_class(spec: AlgorithmSpec) -> Any:
    """QLearning, PolicyGradient, ...: the class the catalog names for this algorithm."""
    return import_implementation(spec.implementation["reinforcement"])


def evaluation_seed(seed: int) -> int:
    return seed + EVALUATION_SEED_OFFSET


def run_reinforcement(job: Job) -> Outcome:
    agent = agent_class(job.spec)(job.environment, job.params, job.seed)
    console.progress("train", f"training {job.spec.name} in {job.environment} for {job.params['episodes']} episodes")
    training_returns = list(agent.train(progress=_episode_reporter()))
    episodes, seed = int(job.params["eval_episodes"]), evaluation_seed(job.seed)
    console.progress("evaluate", f"running {episodes} greedy evaluation episodes in {job.environment}")
    evaluation = agent.evaluate(episodes=episodes, seed=seed)
    return Outcome(
        metrics=_metrics(evaluation),
        n_train=len(training_returns),
        n_test=len(evaluation["returns"]),
        holdout=_holdout(agent, evaluation, seed),
        save=agent.save,
        figures=[plots.return_curve(training_returns)],
    )


def _episode_reporter(reports: int = 20) -> Callable[[int, int, float], None]:
    """A progress callback printing about `reports` lines over the whole training, not one per episode."""

    def report(episode: int, total: int, recent_mean_return: float) -> None:
        every = max(1, total // reports)
        if episode % every == 0 or episode == total:
            console.progress("train", f"episode {episode}/{total} recent_mean_return={recent_mean_return:.4f}")

    return report


def _metrics(evaluation: dict[str, Any]) -> dict[str, float]:
    successes = evaluation.get("successes")
    scored = metrics.reinforcement_metrics(evaluation["returns"], successes or [])
    if successes is None:  # the agent reports only the rate
        scored["success_rate"] = float(evaluation["success_rate"])
    return scored


def _holdout(agent: Any, evaluation: dict[str, Any], seed: int) -> dict[str, Any]:
    """Evaluation episodes Verify can replay with the saved policy: the evaluation itself when it is short."""
    if len(evaluation["returns"]) > HOLDOUT_EPISODES:
        evaluation = agent.evaluate(episodes=HOLDOUT_EPISODES, seed=seed)
    return {
        "kind": "episodes",
        "episodes": len(evaluation["returns"]),
        "seed": seed,
        "seeds": [int(s) for s in evaluation.get("seeds", [])],
        "returns": [float(r) for r in evaluation["returns"]],
    }

