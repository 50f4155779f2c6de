"""The algorithm catalog, as plain data.

Each algorithm declares its learning type, the tasks it serves, its hyperparameters (names, types, ranges,
defaults) and where its implementation lives. Nothing here imports scikit-learn or gymnasium: the request
validator (which runs in the GitHub Action and in Lambdas) reads this module, and only the training entry point
imports the implementations named in `implementation`.

Hyperparameter names are scikit-learn's own wherever an algorithm wraps a scikit-learn estimator, so users can
copy them from its documentation. Defaults are chosen to learn something useful without tuning.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from mlops.errors import InvalidRequest
from mlops.suggest import did_you_mean

LearningType = Literal["supervised", "unsupervised", "reinforcement"]
Task = Literal["classification", "regression", "clustering", "dimensionality_reduction", "reinforcement"]

TASKS_BY_LEARNING_TYPE: dict[str, tuple[str, ...]] = {
    "supervised": ("classification", "regression"),
    "unsupervised": ("clustering", "dimensionality_reduction"),
    "reinforcement": ("reinforcement",),
}
LEARNING_TYPE_OF_TASK = {task: lt for lt, tasks in TASKS_BY_LEARNING_TYPE.items() for task in tasks}


@dataclass(frozen=True)
class Param:
    """One hyperparameter: its type, allowed range or choices, and default."""

    kind: Literal["int", "float", "str", "bool"]
    default: Any
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[Any, ...] = ()
    nullable: bool = False  # `null` / None is allowed (scikit-learn's "no limit", e.g. max_depth=None)
    help: str = ""

    def describe(self) -> str:
        if self.choices:
            return "one of " + ", ".join(map(str, self.choices))
        low = "" if self.minimum is None else f">= {self.minimum}"
        high = "" if self.maximum is None else f"<= {self.maximum}"
        bounds = " and ".join(b for b in (low, high) if b)
        return f"{'an integer' if self.kind == 'int' else 'a ' + self.kind}{' ' + bounds if bounds else ''}"


@dataclass(frozen=True)
class AlgorithmSpec:
    """An algorithm as users name it in a request, with everything needed to validate and run it."""

    name: str
    learning_type: str
    tasks: tuple[str, ...]
    params: Mapping[str, Param]
    # task -> "module:attribute" of the implementation (a scikit-learn estimator class or one of ours)
    implementation: Mapping[str, str]
    environments: tuple[str, ...] = ()  # reinforcement learning only; the first is the default
    summary: str = ""
    fixed: Mapping[str, Any] = field(default_factory=dict)  # constructor arguments users do not set

    def default_params(self) -> dict[str, Any]:
        return {name: p.default for name, p in self.params.items()}


def _int(default: Any, lo: float | None = None, hi: float | None = None, **kw: Any) -> Param:
    return Param("int", default, lo, hi, **kw)


def _float(default: Any, lo: float | None = None, hi: float | None = None, **kw: Any) -> Param:
    return Param("float", default, lo, hi, **kw)


def _choice(default: Any, *choices: Any, **kw: Any) -> Param:
    return Param("str", default, choices=choices, **kw)


def _bool(default: bool) -> Param:
    return Param("bool", default)


_SEED = {"random_state": _int(42, 0, 2**32 - 1, help="seed for reproducible results")}
_FOREST = {
    "n_estimators": _int(100, 1, 100_000),
    "max_depth": _int(None, 1, 1000, nullable=True),
    "min_samples_split": _int(2, 2, 10000),
    "min_samples_leaf": _int(1, 1, 10000),
    "max_features": Param("str", "sqrt", choices=("sqrt", "log2"), nullable=True),
    "bootstrap": _bool(True),
    **_SEED,
}
_BOOSTING = {
    "n_estimators": _int(100, 1, 100_000),
    "learning_rate": _float(0.1, 1e-6, 10.0),
    "max_depth": _int(3, 1, 100, nullable=True),
    "subsample": _float(1.0, 0.01, 1.0),
    "min_samples_leaf": _int(1, 1, 10000),
    **_SEED,
}
_TREE = {
    "max_depth": _int(None, 1, 1000, nullable=True),
    "min_samples_split": _int(2, 2, 10000),
    "min_samples_leaf": _int(1, 1, 10000),
    "criterion": _choice("gini", "gini", "entropy", "log_loss"),
    **_SEED,
}
_KERNEL = _choice("rbf", "linear", "poly", "rbf", "sigmoid")
_RL_COMMON = {
    "episodes": _int(3000, 1, 1_000_000, help="training episodes"),
    "gamma": _float(0.99, 0.0, 1.0, help="discount factor"),
    "eval_episodes": _int(100, 1, 100_000, help="episodes used to evaluate the learned policy"),
    "max_steps": _int(None, 1, 100_000, nullable=True, help="step limit per episode (environment default)"),
    "seed": _int(42, 0, 2**32 - 1),
}
_TABULAR_ENVS = ("FrozenLake-v1", "Taxi-v4", "CliffWalking-v1")


def _spec(name: str, learning_type: str, impl: Mapping[str, str], params: Mapping[str, Param], **kw: Any):
    return AlgorithmSpec(name, learning_type, tuple(impl), params, impl, **kw)


_SK = "sklearn."
ALGORITHMS: dict[str, AlgorithmSpec] = {
    s.name: s
    for s in (
        _spec(
            "logistic_regression",
            "supervised",
            {"classification": _SK + "linear_model:LogisticRegression"},
            {
                "C": _float(1.0, 1e-9, 1e9),
                "max_iter": _int(1000, 1, 1_000_000),
                "solver": _choice("lbfgs", "lbfgs", "liblinear", "newton-cg", "sag", "saga"),
                **_SEED,
            },
            summary="Logistic regression (linear classifier)",
        ),
        _spec(
            "random_forest",
            "supervised",
            {
                "classification": _SK + "ensemble:RandomForestClassifier",
                "regression": _SK + "ensemble:RandomForestRegressor",
            },
            _FOREST,
            summary="Random Forest",
        ),
        _spec(
            "gradient_boosting",
            "supervised",
            {
                "classification": _SK + "ensemble:GradientBoostingClassifier",
                "regression": _SK + "ensemble:GradientBoostingRegressor",
            },
            _BOOSTING,
            summary="Gradient Boosting",
        ),
        _spec(
            "svm",
            "supervised",
            {"classification": _SK + "svm:SVC"},
            {
                "C": _float(1.0, 1e-9, 1e9),
                "kernel": _KERNEL,
                "gamma": _choice("scale", "scale", "auto"),
                "degree": _int(3, 1, 10),
                **_SEED,
            },
            # No probability=True (deprecated in scikit-learn 1.9): AUC-ROC uses decision_function scores.
            summary="Support Vector Machine (classifier)",
        ),
        _spec(
            "knn",
            "supervised",
            {"classification": _SK + "neighbors:KNeighborsClassifier"},
            {
                "n_neighbors": _int(5, 1, 10000),
                "weights": _choice("uniform", "uniform", "distance"),
                "p": _int(2, 1, 10),
            },
            summary="k-Nearest Neighbours (classifier)",
        ),
        _spec(
            "decision_tree",
            "supervised",
            {"classification": _SK + "tree:DecisionTreeClassifier"},
            _TREE,
            summary="Decision Tree (classifier)",
        ),
        _spec(
            "linear_regression",
            "supervised",
            {"regression": _SK + "linear_model:LinearRegression"},
            {"fit_intercept": _bool(True)},
            summary="Ordinary least squares",
        ),
        _spec(
            "ridge",
            "supervised",
            {"regression": _SK + "linear_model:Ridge"},
            {"alpha": _float(1.0, 0.0, 1e9), "fit_intercept": _bool(True), **_SEED},
            summary="Ridge regression (L2)",
        ),
        _spec(
            "lasso",
            "supervised",
            {"regression": _SK + "linear_model:Lasso"},
            {"alpha": _float(0.1, 0.0, 1e9), "max_iter": _int(10000, 1, 1_000_000), **_SEED},
            summary="Lasso regression (L1)",
        ),
        _spec(
            "svr",
            "supervised",
            {"regression": _SK + "svm:SVR"},
            {
                "C": _float(100.0, 1e-9, 1e9),
                "kernel": _KERNEL,
                "epsilon": _float(0.1, 0.0, 1e9),
                "gamma": _choice("scale", "scale", "auto"),
            },
            summary="Support Vector Regression",
        ),
        _spec(
            "kmeans",
            "unsupervised",
            {"clustering": _SK + "cluster:KMeans"},
            {
                "n_clusters": _int(3, 2, 10000),
                "n_init": _int(10, 1, 1000),
                "max_iter": _int(300, 1, 100000),
                **_SEED,
            },
            summary="k-means clustering",
        ),
        _spec(
            "dbscan",
            "unsupervised",
            {"clustering": _SK + "cluster:DBSCAN"},
            {
                "eps": _float(0.5, 1e-9, 1e9),
                "min_samples": _int(5, 1, 100000),
                "metric": _choice("euclidean", "euclidean", "manhattan", "cosine"),
            },
            summary="DBSCAN density-based clustering",
        ),
        _spec(
            "agglomerative",
            "unsupervised",
            {"clustering": _SK + "cluster:AgglomerativeClustering"},
            {
                "n_clusters": _int(3, 2, 10000),
                "linkage": _choice("ward", "ward", "complete", "average", "single"),
            },
            summary="Agglomerative (hierarchical) clustering",
        ),
        _spec(
            "gaussian_mixture",
            "unsupervised",
            {"clustering": _SK + "mixture:GaussianMixture"},
            {
                "n_components": _int(3, 1, 10000),
                "covariance_type": _choice("full", "full", "tied", "diag", "spherical"),
                "max_iter": _int(100, 1, 100000),
                **_SEED,
            },
            summary="Gaussian mixture model",
        ),
        _spec(
            "pca",
            "unsupervised",
            {"dimensionality_reduction": _SK + "decomposition:PCA"},
            {"n_components": _int(2, 1, 100000), "whiten": _bool(False), **_SEED},
            summary="Principal component analysis",
        ),
        _spec(
            "truncated_svd",
            "unsupervised",
            {"dimensionality_reduction": _SK + "decomposition:TruncatedSVD"},
            {"n_components": _int(2, 1, 100000), "n_iter": _int(5, 1, 1000), **_SEED},
            summary="Truncated SVD (LSA)",
        ),
        _spec(
            "q_learning",
            "reinforcement",
            {"reinforcement": "mlops.learners.rl:QLearning"},
            {
                **_RL_COMMON,
                "learning_rate": _float(0.1, 1e-6, 1.0),
                "epsilon": _float(1.0, 0.0, 1.0),
                "epsilon_min": _float(0.05, 0.0, 1.0),
                "epsilon_decay": _float(0.999, 0.0, 1.0),
            },
            environments=_TABULAR_ENVS,
            summary="Tabular Q-Learning",
        ),
        _spec(
            "policy_gradient",
            "reinforcement",
            {"reinforcement": "mlops.learners.rl:PolicyGradient"},
            {
                **_RL_COMMON,
                "episodes": _int(500, 1, 1_000_000, help="training episodes"),
                "learning_rate": _float(0.01, 1e-6, 1.0, help="Adam step size (the policy's decays to a tenth)"),
                "hidden_units": _int(32, 0, 4096, help="hidden layer width (0: a linear softmax policy)"),
                "baseline": _bool(True),
                "entropy_coef": _float(0.01, 0.0, 1.0, help="entropy bonus weight: keeps the policy exploring"),
            },
            environments=("CartPole-v1", *_TABULAR_ENVS),
            # On FrozenLake and Taxi q_learning learns far more reliably; REINFORCE shines on CartPole.
            summary="REINFORCE with a baseline",
        ),
    )
}


def get_algorithm(name: str) -> AlgorithmSpec:
    """The algorithm named `name`, or InvalidRequest with a suggestion."""
    try:
        return ALGORITHMS[name]
    except (KeyError, TypeError):
        hint = did_you_mean(str(name), ALGORITHMS)
        raise InvalidRequest(f"algorithm: unknown algorithm '{name}'{hint}") from None


def algorithms_for(learning_type: str) -> list[str]:
    return sorted(n for n, s in ALGORITHMS.items() if s.learning_type == learning_type)
