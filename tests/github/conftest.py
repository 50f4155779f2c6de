"""Fixtures for the GitHub side: a loopback fake of GitHub's REST API (tests/github/fake_github.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fake_github import FakeGitHub


@pytest.fixture
def fake_github() -> Iterator[FakeGitHub]:
    """A started fake GitHub for ``Codertocat/Hello-World`` (the repository of GitHub's webhook examples).

    The test fails at teardown if anything it sent, or anything the fake answered, broke GitHub's description.
    """
    with FakeGitHub() as fake:
        yield fake
    assert not fake.problems, "requests GitHub's REST API description does not allow:\n" + "\n".join(fake.problems)
