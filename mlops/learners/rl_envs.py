"""The environments the reinforcement learners support, and how an episode is run and judged.

Everything environment-specific lives in `ENV_RULES`: the step limit used when the request sets none, and what
counts as a successful episode. The learners in `rl.py` only see `make_env`, `ObservationEncoder`,
`run_episode` and `evaluate_policy`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from mlops.errors import InvalidRequest
from mlops.suggest import did_you_mean

Policy = Callable[[Any], int]
# (observation, action, reward, next_observation, terminated): lets a learner update after every step
StepHook = Callable[[Any, int, float, Any, bool], None]


@dataclass
class Episode:
    """What happened in one episode, enough to compute its return and judge its success."""

    rewards: list[float] = field(default_factory=list)
    terminated: bool = False
    truncated: bool = False

    @property
    def total_return(self) -> float:
        return float(sum(self.rewards))


def _reached_frozen_lake_goal(episode: Episode) -> bool:
    return episode.total_return > 0  # the only reward is +1 on the goal tile


def _dropped_off_passenger(episode: Episode) -> bool:
    return 20.0 in episode.rewards  # Taxi pays +20 only for a correct drop-off


def _crossed_cliff_safely(episode: Episode) -> bool:
    # falling costs -100 and teleports back to the start, so reaching the goal alone is not enough
    return episode.terminated and -100.0 not in episode.rewards


def _balanced_until_limit(episode: Episode) -> bool:
    return episode.truncated and not episode.terminated  # the pole never fell before the step limit


@dataclass(frozen=True)
class EnvRule:
    default_max_steps: int
    succeeded: Callable[[Episode], bool]


# CliffWalking has no step limit of its own; without one an untrained agent can wander forever.
ENV_RULES: dict[str, EnvRule] = {
    "FrozenLake-v1": EnvRule(100, _reached_frozen_lake_goal),
    "Taxi-v4": EnvRule(200, _dropped_off_passenger),
    "CliffWalking-v1": EnvRule(200, _crossed_cliff_safely),
    "CartPole-v1": EnvRule(500, _balanced_until_limit),
}


def env_rule(env_id: str) -> EnvRule:
    try:
        return ENV_RULES[env_id]
    except (KeyError, TypeError):
        hint = did_you_mean(str(env_id), ENV_RULES)
        raise InvalidRequest(f"environment: '{env_id}' is not supported{hint}") from None


def step_limit(env_id: str, max_steps: int | None) -> int:
    return int(max_steps) if max_steps else env_rule(env_id).default_max_steps


def make_env(env_id: str, max_steps: int | None) -> gym.Env:
    """The gymnasium environment with its default settings (FrozenLake stays slippery) and a step limit."""
    return gym.make(env_id, max_episode_steps=step_limit(env_id, max_steps))


@dataclass(frozen=True)
class ObservationEncoder:
    """Turns an observation into a policy's input: one-hot for discrete states, else the raw vector."""

    kind: str  # "one_hot" | "box"
    size: int

    @classmethod
    def for_space(cls, space: gym.Space, env_id: str) -> ObservationEncoder:
        if isinstance(space, gym.spaces.Discrete):
            return cls("one_hot", int(space.n))
        if isinstance(space, gym.spaces.Box) and len(space.shape) == 1:
            return cls("box", int(space.shape[0]))
        raise InvalidRequest(f"environment: {env_id} has {space} observations, which are not supported")

    def encode(self, observation: Any) -> np.ndarray:
        if self.kind == "one_hot":
            vector = np.zeros(self.size)
            vector[int(observation)] = 1.0
            return vector
        return np.asarray(observation, dtype=np.float64)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "size": self.size}


def run_episode(env: gym.Env, policy: Policy, seed: int | None, on_step: StepHook | None = None) -> Episode:
    """Play one episode; `seed` None continues the environment's random stream instead of reseeding it."""
    observation, _ = env.reset(seed=seed)
    episode = Episode()
    while not (episode.terminated or episode.truncated):
        action = policy(observation)
        next_observation, reward, terminated, truncated, _ = env.step(action)
        episode.rewards.append(float(reward))
        episode.terminated, episode.truncated = bool(terminated), bool(truncated)
        if on_step is not None:
            on_step(observation, action, float(reward), next_observation, episode.terminated)
        observation = next_observation
    return episode


def evaluate_policy(env_id: str, max_steps: int | None, policy: Policy, episodes: int, seed: int) -> dict:
    """Returns, their mean and spread, and the success rate over episodes seeded seed, seed+1, ..."""
    if episodes < 1:
        raise InvalidRequest(f"eval_episodes: must be at least 1, got {episodes}")
    seeds = [int(seed) + i for i in range(int(episodes))]
    env, rule = make_env(env_id, max_steps), env_rule(env_id)
    played = [run_episode(env, policy, s) for s in seeds]
    env.close()
    returns = [episode.total_return for episode in played]
    return {
        "mean_return": float(np.mean(returns)),
        "std_return": float(np.std(returns)),
        "success_rate": float(np.mean([rule.succeeded(episode) for episode in played])),
        "returns": returns,
        "seeds": seeds,
    }


def random_baseline(env_id: str, episodes: int, seed: int, max_steps: int | None = None) -> dict:
    """What a uniformly random policy scores, in the form `evaluate()` uses: the bar a learner must clear."""
    env = make_env(env_id, max_steps)
    n_actions = int(env.action_space.n)  # type: ignore[attr-defined]
    env.close()
    rng = np.random.default_rng(seed)
    return evaluate_policy(env_id, max_steps, lambda _obs: int(rng.integers(n_actions)), episodes, seed)
