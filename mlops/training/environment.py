"""The SageMaker script-mode contract: where the inputs are and where the outputs go, read from os.environ.

The same variables are set by a SageMaker framework container and by the local runner, so the entry point
does not know (or care) where it runs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mlops.errors import InvalidRequest


@dataclass(frozen=True)
class ScriptModeEnvironment:
    model_dir: Path  # SM_MODEL_DIR: the model and model_info.json (SageMaker tars it into model.tar.gz)
    output_dir: Path  # SM_OUTPUT_DATA_DIR: evaluation.json and plots/ (SageMaker tars it into output.tar.gz)
    hps_json: str  # SM_HPS: the hyperparameters as a JSON object
    train_channel: str | None  # SM_CHANNEL_TRAIN
    test_channel: str | None  # SM_CHANNEL_TEST
    model_channel: str | None = None  # SM_CHANNEL_MODEL: a registered model, for a verifying job

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> ScriptModeEnvironment:
        env = os.environ if environ is None else environ
        return cls(
            model_dir=Path(_required(env, "SM_MODEL_DIR")),
            output_dir=Path(_required(env, "SM_OUTPUT_DATA_DIR")),
            hps_json=env.get("SM_HPS", ""),
            train_channel=env.get("SM_CHANNEL_TRAIN") or None,
            test_channel=env.get("SM_CHANNEL_TEST") or None,
            model_channel=env.get("SM_CHANNEL_MODEL") or None,
        )

    def channel(self, name: str) -> Path:
        """The directory of the `train`, `test` or `model` channel; InvalidRequest when it was not provided."""
        value = {"train": self.train_channel, "test": self.test_channel, "model": self.model_channel}.get(name)
        variable = f"SM_CHANNEL_{name.upper()}"
        if not value:
            raise InvalidRequest(f"{variable} is not set: the '{name}' data channel is required")
        if not Path(value).is_dir():
            raise InvalidRequest(f"{variable}: the '{name}' channel directory {value} does not exist")
        return Path(value)

    @property
    def plots_dir(self) -> Path:
        return self.output_dir / "plots"


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name)
    if not value:
        raise InvalidRequest(f"{name} is not set (the script-mode contract requires it)")
    return value
