"""What each side imports, in a fresh interpreter: the Lambdas never load the ML stack or the SageMaker SDK, and
the action (which shares the AWS notifier's modules) never loads aws-lambda-powertools."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = {"sklearn", "numpy", "matplotlib", "sagemaker", "scipy", "gymnasium", "pandas"}


def top_level_modules_after(code: str) -> set[str]:
    probe = f"import sys\n{code}\nimport json\nprint(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120)
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_the_lambda_handlers_load_no_ml_stack() -> None:
    loaded = top_level_modules_after("import mlops.handlers")
    assert "aws_lambda_powertools" in loaded  # the probe sees what it is looking for
    assert not loaded & HEAVY


def test_the_action_and_the_aws_notifier_never_load_powertools() -> None:
    code = (
        "import pkgutil, importlib, mlops.action\n"
        "for found in pkgutil.iter_modules(mlops.action.__path__):\n"
        "    if found.name != '__main__':\n"
        "        importlib.import_module(f'mlops.action.{found.name}')\n"
        "import mlops.backends.aws.sns, mlops.backends.aws.github_status, mlops.backends.aws.progress\n"
        "import mlops.backends.aws.operator_wait"
    )
    loaded = top_level_modules_after(code)
    assert "mlops" in loaded and "aws_lambda_powertools" not in loaded
