"""A small job fits in a forked child while its parent imports skops; results and errors come back whole."""

from __future__ import annotations

import os
import signal
import sys

import pytest

from mlops.errors import InvalidRequest, TrainingCrashed
from mlops.training.fitter import MAX_FORKED_BYTES, fit_while_importing

NOT_YET_IMPORTED = "xml.dom.minidom"  # a module this test process has no other reason to import

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="without fork, fitting is always in-process")


@pytest.fixture(autouse=True)
def fresh_module() -> None:
    sys.modules.pop(NOT_YET_IMPORTED, None)


def test_a_small_job_fits_in_a_child_while_the_parent_imports() -> None:
    # GIVEN a "fit" that says which process ran it WHEN it runs beside an import
    fitted_by = fit_while_importing(os.getpid, [NOT_YET_IMPORTED], data_bytes=1000)
    # THEN a child fitted it and handed the result back, and this process imported the module meanwhile
    assert fitted_by != os.getpid()
    assert NOT_YET_IMPORTED in sys.modules


def test_a_large_job_or_one_with_nothing_to_import_fits_here() -> None:
    assert fit_while_importing(os.getpid, [NOT_YET_IMPORTED], data_bytes=MAX_FORKED_BYTES + 1) == os.getpid()
    assert fit_while_importing(os.getpid, ["os"], data_bytes=1000) == os.getpid()


def test_an_error_in_the_child_is_raised_here_with_every_problem() -> None:
    def fit() -> None:
        raise InvalidRequest("two problems", ["a: is wrong", "b: is wrong too"])

    with pytest.raises(InvalidRequest) as raised:
        fit_while_importing(fit, [NOT_YET_IMPORTED], data_bytes=1000)
    assert raised.value.problems == ["a: is wrong", "b: is wrong too"]


def test_a_child_that_dies_is_a_crash_to_retry() -> None:
    def fit() -> None:
        os.kill(os.getpid(), signal.SIGKILL)  # what the OOM killer does

    with pytest.raises(TrainingCrashed, match="without handing its model back"):
        fit_while_importing(fit, [NOT_YET_IMPORTED], data_bytes=1000)
