"""Reinforcement learners on gymnasium environments, in numpy only: tabular Q-learning and REINFORCE.

Both share one interface, which the training entry point relies on:

    learner = QLearning(env_id, params, seed)       # or PolicyGradient
    returns = learner.train(progress)               # per-episode training returns
    metrics = learner.evaluate(episodes, seed)      # the greedy policy on seeded episodes
    learner.save(model_dir); QLearning.load(model_dir)

A saved model is `policy.npz` (plain arrays, readable with allow_pickle=False) and `policy.json` (what the
arrays mean). Nothing is pickled, so a model file cannot run code when it is loaded.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import gymnasium as gym
import numpy as np

from mlops.errors import InvalidRequest, TrainingError
from mlops.learners.catalog import get_algorithm
from mlops.learners.rl_envs import (
    Episode,
    ObservationEncoder,
    evaluate_policy,
    make_env,
    run_episode,
    step_limit,
)

Progress = Callable[[int, int, float], None]
Weights = list[np.ndarray]  # [W0, b0, W1, b1, ...] of a small MLP
LearnerT = TypeVar("LearnerT", bound="_Learner")
FORMAT_VERSION = 1
PROGRESS_REPORTS = 10  # progress() is called about this many times per training run, not every episode
# REINFORCE's policy step shrinks linearly to this fraction of learning_rate by the last training episode, so
# the policy it ends with is a settled one rather than wherever the last few noisy updates threw it
FINAL_LEARNING_RATE_FRACTION = 0.1


class _Learner:
    """What both learners share: environment checks, the training loop, evaluation, and saving."""

    algorithm: ClassVar[str]

    def __init__(self, env_id: str, params: Mapping[str, Any], seed: int) -> None:
        self.env_id = env_id
        # catalog defaults fill any gap, so a partial dict (tests, old models) still means one definite thing
        self.params: dict[str, Any] = {**get_algorithm(self.algorithm).default_params(), **params}
        self.seed = int(seed)
        self.max_steps = step_limit(env_id, self.params.get("max_steps"))
        env = make_env(env_id, self.max_steps)
        self.encoder = ObservationEncoder.for_space(env.observation_space, env_id)
        self.n_actions = _discrete_action_count(env, env_id)
        env.close()
        self.rng = np.random.default_rng(self.seed)
        self._check_supported()
        self._init_model()

    # --- what each learner defines -------------------------------------------------------------------------
    def _check_supported(self) -> None:
        """Raise InvalidRequest when this learner cannot handle the environment."""

    def _init_model(self) -> None:
        raise NotImplementedError

    def _train_episode(self, env: gym.Env, seed: int | None) -> Episode:
        raise NotImplementedError

    def _greedy_action(self, observation: Any) -> int:
        raise NotImplementedError

    def _arrays(self) -> dict[str, np.ndarray]:
        """The arrays that make up the policy; `_set_arrays` takes the same dict back."""
        raise NotImplementedError

    def _set_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        raise NotImplementedError

    # --- the shared interface ----------------------------------------------------------------------------
    def train(self, progress: Progress | None = None) -> list[float]:
        total = int(self.params["episodes"])
        report_every = -(-total // PROGRESS_REPORTS)
        env, returns = make_env(self.env_id, self.max_steps), []
        for index in range(total):
            # seeding only the first reset gives one reproducible stream of episodes without repeating any
            episode = self._train_episode(env, self.seed if index == 0 else None)
            returns.append(episode.total_return)
            if progress is not None and ((index + 1) % report_every == 0 or index + 1 == total):
                progress(index + 1, total, float(np.mean(returns[-report_every:])))
        env.close()
        self._check_finite()
        return returns

    def evaluate(self, episodes: int, seed: int) -> dict:
        return evaluate_policy(self.env_id, self.max_steps, self._greedy_action, episodes, seed)

    def save(self, model_dir: Path) -> None:
        model_dir = Path(model_dir)
        model_dir.mkdir(parents=True, exist_ok=True)
        arrays = self._arrays()
        np.savez(model_dir / "policy.npz", **arrays)  # type: ignore[arg-type]  # numpy's stub mistypes **kwds
        # numpy scalars may sneak into params from a caller; .item() turns them into plain JSON numbers
        description = json.dumps(self._description(arrays), indent=2, sort_keys=True, default=_plain)
        (model_dir / "policy.json").write_text(description)

    @classmethod
    def load(cls: type[LearnerT], model_dir: Path) -> LearnerT:
        model_dir = Path(model_dir)
        description = _read_description(model_dir, cls.algorithm)
        learner = cls(description["env_id"], description["params"], description["seed"])
        with np.load(model_dir / "policy.npz", allow_pickle=False) as stored:
            arrays = {name: stored[name] for name in stored.files}
        learner._check_shapes(arrays)
        learner._set_arrays(arrays)
        return learner

    # --- helpers -------------------------------------------------------------------------------------------
    def _description(self, arrays: Mapping[str, np.ndarray]) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "algorithm": self.algorithm,
            "env_id": self.env_id,
            "params": self.params,
            "seed": self.seed,
            "max_steps": self.max_steps,
            "observation_encoding": self.encoder.to_json(),
            "n_actions": self.n_actions,
            "arrays": {name: {"shape": list(a.shape), "dtype": str(a.dtype)} for name, a in arrays.items()},
        }

    def _check_shapes(self, arrays: Mapping[str, np.ndarray]) -> None:
        expected = {name: a.shape for name, a in self._arrays().items()}
        found = {name: a.shape for name, a in arrays.items()}
        if expected != found:
            raise TrainingError(f"model: policy.npz holds arrays {found}, expected {expected}")

    def _check_finite(self) -> None:
        if not all(np.all(np.isfinite(a)) for a in self._arrays().values()):
            raise TrainingError("training: the policy diverged (NaN or infinite values); lower learning_rate")


def _discrete_action_count(env: gym.Env, env_id: str) -> int:
    if not isinstance(env.action_space, gym.spaces.Discrete):
        raise InvalidRequest(f"environment: {env_id} has {env.action_space} actions; need discrete ones")
    return int(env.action_space.n)


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} cannot be saved in policy.json")


def _read_description(model_dir: Path, algorithm: str) -> dict[str, Any]:
    try:
        description = json.loads((model_dir / "policy.json").read_text())
    except (OSError, ValueError) as error:
        raise TrainingError(f"model: cannot read {model_dir / 'policy.json'}: {error}") from None
    if description.get("algorithm") != algorithm:
        found = description.get("algorithm")
        raise TrainingError(f"model: {model_dir} holds a {found} model, not {algorithm}")
    return description


# ================================================================================================ Q-learning
class QLearning(_Learner):
    """Tabular Q-learning with epsilon-greedy exploration that decays once per episode."""

    algorithm = "q_learning"

    def _check_supported(self) -> None:
        if self.encoder.kind != "one_hot":
            raise InvalidRequest(
                f"environment: q_learning needs discrete observations, but {self.env_id} has continuous "
                "ones; use policy_gradient for it"
            )

    def _init_model(self) -> None:
        self.q = np.zeros((self.encoder.size, self.n_actions))
        self.epsilon = float(self.params["epsilon"])

    def _train_episode(self, env: gym.Env, seed: int | None) -> Episode:
        episode = run_episode(env, self._explore, seed, self._update)
        decayed = self.epsilon * float(self.params["epsilon_decay"])
        self.epsilon = max(float(self.params["epsilon_min"]), decayed)
        return episode

    def _explore(self, state: Any) -> int:
        if self.rng.random() < self.epsilon:
            return int(self.rng.integers(self.n_actions))
        values = self.q[int(state)]
        # break ties at random: argmax would always pick action 0 in an unexplored (all-zero) row
        return int(self.rng.choice(np.flatnonzero(values == values.max())))

    def _update(self, state: Any, action: int, reward: float, next_state: Any, terminated: bool) -> None:
        # a truncated episode still has a future, so only a real termination stops the bootstrap
        future = 0.0 if terminated else float(self.params["gamma"]) * float(self.q[int(next_state)].max())
        error = reward + future - self.q[int(state), action]
        self.q[int(state), action] += float(self.params["learning_rate"]) * error

    def _greedy_action(self, state: Any) -> int:
        return int(np.argmax(self.q[int(state)]))

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"q_table": self.q}

    def _set_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        self.q = np.array(arrays["q_table"], dtype=np.float64)


# ===================================================================================== REINFORCE (numpy MLP)
def _init_layers(rng: np.random.Generator, sizes: list[int]) -> Weights:
    """[W0, b0, W1, b1, ...]: Glorot-scaled weights; a near-zero last layer so the policy starts uniform."""
    weights: Weights = []
    for index, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        scale = 0.01 if index == len(sizes) - 2 else np.sqrt(2.0 / (n_in + n_out))
        weights += [rng.normal(0.0, scale, (n_in, n_out)), np.zeros(n_out)]
    return weights


def _forward(weights: Weights, x: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Output of a tanh MLP for the rows of `x`, plus each layer's input (what backprop needs)."""
    layer_inputs, hidden = [], x
    for layer in range(0, len(weights) - 2, 2):
        layer_inputs.append(hidden)
        hidden = np.tanh(hidden @ weights[layer] + weights[layer + 1])
    layer_inputs.append(hidden)
    return layer_inputs, hidden @ weights[-2] + weights[-1]


def _backward(weights: Weights, layer_inputs: list[np.ndarray], d_out: np.ndarray) -> Weights:
    """Gradients of a loss with respect to `weights`, given its gradient `d_out` w.r.t. the output."""
    grads: Weights = [np.empty(0)] * len(weights)
    delta = d_out
    for layer in range(len(weights) - 2, -1, -2):
        grads[layer], grads[layer + 1] = layer_inputs[layer // 2].T @ delta, delta.sum(axis=0)
        if layer > 0:
            delta = (delta @ weights[layer].T) * (1.0 - layer_inputs[layer // 2] ** 2)  # tanh' = 1 - tanh²
    return grads


class _Adam:
    """Adam, kept because plain SGD on REINFORCE's noisy gradients needs far more careful learning rates."""

    def __init__(self, weights: Weights, learning_rate: float) -> None:
        self.learning_rate, self.steps = learning_rate, 0
        self.mean = [np.zeros_like(w) for w in weights]
        self.square = [np.zeros_like(w) for w in weights]

    def descend(self, weights: Weights, grads: Weights) -> None:
        self.steps += 1
        correction = np.sqrt(1 - 0.999**self.steps) / (1 - 0.9**self.steps)
        for w, g, m, v in zip(weights, grads, self.mean, self.square, strict=True):
            m += 0.1 * (g - m)
            v += 0.001 * (g * g - v)
            w -= self.learning_rate * correction * m / (np.sqrt(v) + 1e-8)


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    # computed from the logits, not as log(_softmax): a probability that underflows to 0 would give -inf
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _policy_logit_gradient(
    logits: np.ndarray, actions: np.ndarray, advantages: np.ndarray, entropy_coef: float
) -> np.ndarray:
    """Gradient w.r.t. the logits of -mean(advantage * log pi(action) + entropy_coef * entropy of pi)."""
    log_p = _log_softmax(logits)
    p = np.exp(log_p)
    d_logits = p.copy()  # d(-log pi(a))/d logits = pi - one_hot(a)
    d_logits[np.arange(len(actions)), actions] -= 1.0
    d_logits *= advantages[:, None]
    entropy = -(p * log_p).sum(axis=-1, keepdims=True)
    d_logits += entropy_coef * p * (log_p + entropy)  # d(entropy)/d logits = -pi * (log pi + entropy)
    return d_logits / len(actions)


def _discounted_returns(rewards: list[float], gamma: float) -> np.ndarray:
    returns, running = np.zeros(len(rewards)), 0.0
    for t in range(len(rewards) - 1, -1, -1):
        running = rewards[t] + gamma * running
        returns[t] = running
    return returns


def _standardize(values: np.ndarray) -> np.ndarray:
    return (values - values.mean()) / (values.std() + 1e-8)


class PolicyGradient(_Learner):
    """REINFORCE with a softmax policy and, when `baseline` is true, a learned state-value baseline.

    Two things keep it from collapsing into a policy that always pushes one way: an entropy bonus
    (`entropy_coef`), and advantages that keep their sign (see `_learn`). The policy's learning rate decays
    linearly to FINAL_LEARNING_RATE_FRACTION of `learning_rate` over the training episodes.
    """

    algorithm = "policy_gradient"

    def _init_model(self) -> None:
        hidden = int(self.params["hidden_units"])
        sizes = [self.encoder.size, *([hidden] if hidden else []), self.n_actions]
        self.policy = _init_layers(self.rng, sizes)
        self.policy_optimizer = _Adam(self.policy, float(self.params["learning_rate"]))
        self.value = _init_layers(self.rng, [*sizes[:-1], 1])
        self.value_optimizer = _Adam(self.value, float(self.params["learning_rate"]))
        self.return_scale = 0.0  # running size of returns, so the value net always fits targets of order one
        self.episodes_learned = 0  # drives the learning-rate decay

    def _train_episode(self, env: gym.Env, seed: int | None) -> Episode:
        inputs: list[np.ndarray] = []
        actions: list[int] = []

        def record(observation: Any, action: int, *_: Any) -> None:
            inputs.append(self.encoder.encode(observation))
            actions.append(action)

        episode = run_episode(env, self._sample_action, seed, record)
        self._learn(np.array(inputs), np.array(actions), episode.rewards)
        return episode

    def _sample_action(self, observation: Any) -> int:
        probabilities = _softmax(_forward(self.policy, self.encoder.encode(observation))[1])
        action = int(np.searchsorted(np.cumsum(probabilities), self.rng.random()))
        return min(action, self.n_actions - 1)  # rounding can leave the cumulative sum a hair below 1

    def _learn(self, inputs: np.ndarray, actions: np.ndarray, rewards: list[float]) -> None:
        returns = _discounted_returns(rewards, float(self.params["gamma"]))
        # The baseline's advantages are already centred and of order one, so they are used as they are.
        # Standardizing them per episode would call the first half of every episode good, even an episode
        # that fell far short of what the value net expected, and so reinforce the very actions that dropped
        # the pole: that feedback loop made the policy deterministic (and stuck) on some seeds.
        advantages = self._advantages(inputs, returns) if self.params["baseline"] else _standardize(returns)
        layer_inputs, logits = _forward(self.policy, inputs)
        d_logits = _policy_logit_gradient(logits, actions, advantages, float(self.params["entropy_coef"]))
        self.episodes_learned += 1
        self.policy_optimizer.learning_rate = self._decayed_learning_rate()
        self.policy_optimizer.descend(self.policy, _backward(self.policy, layer_inputs, d_logits))

    def _decayed_learning_rate(self) -> float:
        done = min(1.0, self.episodes_learned / max(1, int(self.params["episodes"])))
        # only the policy's rate decays: the value net must keep tracking returns that grow as it improves
        return float(self.params["learning_rate"]) * (1.0 - (1.0 - FINAL_LEARNING_RATE_FRACTION) * done)

    def _advantages(self, inputs: np.ndarray, returns: np.ndarray) -> np.ndarray:
        """Returns minus the value net's prediction; also moves the value net towards the returns."""
        episode_scale = float(np.abs(returns).mean()) + 1e-8
        # an exponential moving average: slow enough that the value net's targets do not jump between episodes
        previous = self.return_scale or episode_scale
        self.return_scale = 0.95 * previous + 0.05 * episode_scale
        targets = returns / self.return_scale
        layer_inputs, predicted = _forward(self.value, inputs)
        # gradient of half the mean squared error
        d_predicted = (predicted[:, 0] - targets)[:, None] / len(targets)
        self.value_optimizer.descend(self.value, _backward(self.value, layer_inputs, d_predicted))
        return targets - predicted[:, 0]

    def _greedy_action(self, observation: Any) -> int:
        return int(np.argmax(_forward(self.policy, self.encoder.encode(observation))[1]))

    def _arrays(self) -> dict[str, np.ndarray]:
        return dict(zip(_layer_names(len(self.policy)), self.policy, strict=True))

    def _set_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        self.policy = [np.array(arrays[name], dtype=np.float64) for name in _layer_names(len(self.policy))]


def _layer_names(n_arrays: int) -> list[str]:
    """W0, b0, W1, b1, ...: the weights and biases of each layer, in order."""
    return [f"{'W' if i % 2 == 0 else 'b'}{i // 2}" for i in range(n_arrays)]
