"""GIVEN a training request with an optional `resources:` mapping (instance type and count, volume, runtime, managed
spot, warm pool), WHEN it is validated, THEN good values are kept as written, and every bad one gets its own line
naming `resources.<field>`, together with the request's other problems."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlops.cli import main
from mlops.errors import InvalidRequest
from mlops.issue_forms import extract_request
from mlops.request import validate_request

IRIS = {"learning_type": "supervised", "algorithm": "random_forest", "dataset_id": "iris",
        "evaluation_threshold": 0.85}


def problems(resources: object, **fields: object) -> list[str]:
    with pytest.raises(InvalidRequest) as caught:
        validate_request({**IRIS, **fields, "resources": resources})
    return caught.value.problems


def test_resources_are_optional_and_kept_as_written() -> None:
    assert validate_request(IRIS).resources is None
    asked = {"instance_type": "ml.g4dn.xlarge", "instance_count": 2, "volume_gb": 100, "max_runtime_seconds": 7200,
             "spot": True, "max_wait_seconds": 10800}
    request = validate_request({**IRIS, "resources": asked})
    assert request.resources is not None and request.resources.model_dump(exclude_none=True) == asked
    # a settled request (the dataset's task, a retrain) keeps them
    assert request.with_task("classification").resources == request.resources


@pytest.mark.parametrize(
    ("resources", "expected"),
    [
        ({"instance_type": "m5.large"}, "resources.instance_type: 'm5.large' is not a SageMaker instance type such as "
                                        "ml.m5.large"),
        ({"instance_count": 0}, "resources.instance_count: must be a whole number from 1 to 100 (got 0)"),
        ({"instance_count": "2"}, "resources.instance_count: must be a whole number from 1 to 100 (got '2')"),
        ({"volume_gb": 2.5}, "resources.volume_gb: must be a whole number from 1 to 16384 (got 2.5)"),
        ({"max_runtime_seconds": 3_000_000}, "resources.max_runtime_seconds: must be a whole number from 1 to "
                                             "2419200 (got 3000000)"),
        ({"warm_pool_seconds": 7200}, "resources.warm_pool_seconds: must be a whole number from 0 to 3600 (got 7200)"),
        ({"spot": "yes"}, "resources.spot: must be true or false (got 'yes')"),
        ({"instance_count": True}, "resources.instance_count: must be a whole number from 1 to 100 (got True)"),
        ({"spot": True, "warm_pool_seconds": 600}, "resources.warm_pool_seconds: warm pools do not work with spot; "
                                                   "remove one of them"),
        ({"max_wait_seconds": 600}, "resources.max_wait_seconds: only applies with 'spot: true'"),
        ({"spot": True, "max_runtime_seconds": 3600, "max_wait_seconds": 600},
         "resources.max_wait_seconds: with spot, at least max_runtime_seconds (3600)"),
        ({"instance_typ": "ml.m5.large"}, "resources.instance_typ: not a training resource (did you mean "
                                          "'instance_type'?)"),
        ("ml.m5.large", "resources: expected a mapping such as 'instance_type: ml.m5.xlarge' (got 'ml.m5.large')"),
    ],
)
def test_each_bad_value_is_named_and_explained(resources: object, expected: str) -> None:
    assert problems(resources) == [expected]


def test_an_unknown_resource_is_told_the_valid_ones() -> None:
    (line,) = problems({"gpus": 4})
    assert line.startswith("resources.gpus: not a training resource")
    assert all(name in line for name in ("instance_type", "instance_count", "spot", "warm_pool_seconds"))


def test_every_problem_is_reported_at_once_with_the_request_s_others() -> None:
    found = problems({"gpus": 4, "instance_type": "big", "instance_count": 0, "spot": True, "warm_pool_seconds": 60},
                     evaluation_threshold=2, hyperparameters={"n_estimaters": 3})
    fields = [line.split(":", 1)[0] for line in found]
    assert fields == ["resources.gpus", "resources.instance_type", "resources.instance_count",
                      "resources.warm_pool_seconds", "hyperparameters.n_estimaters", "evaluation_threshold"]


def test_a_yaml_issue_body_carries_resources(tmp_path: Path, capsys) -> None:
    body = """Please train this.

```yaml
learning_type: supervised
algorithm: random_forest
dataset_id: iris
evaluation_threshold: 0.85
resources:
  instance_type: ml.c5.xlarge
  spot: true
  max_wait_seconds: 7200
```
"""
    assert validate_request(extract_request(body)).resources.instance_type == "ml.c5.xlarge"  # type: ignore[union-attr]
    path = tmp_path / "request.yml"
    path.write_text(body)
    assert main(["validate", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["resources"] == {"instance_type": "ml.c5.xlarge", "spot": True,
                                                                "max_wait_seconds": 7200}
    path.write_text(body.replace("ml.c5.xlarge", "c5"))
    assert main(["validate", str(path)]) == 2
    assert capsys.readouterr().err.strip() == (
        "resources.instance_type: 'c5' is not a SageMaker instance type such as ml.m5.large"
    )
