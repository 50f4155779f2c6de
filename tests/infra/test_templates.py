"""GIVEN the CloudFormation templates in infra/cloudformation/, WHEN cfn-lint and checkov read them, THEN cfn-lint
finds no error and no warning, and checkov scans every template and fails no check (a skip is justified inline,
next to its resource). Each linter is also shown failing on a template that deserves it, so a green run means
something.

cfn-lint's exit status is a bit mask: 1 cfn-lint itself failed, 2 error, 4 warning, 8 informational. Warnings
fail too: on templates written here they are real defects (an unused parameter is a contract that drifted, a
default that breaks its own AllowedPattern would make a deploy fail) and cost little to fix; informational
findings do not fail.

checkov runs from its own virtual environment (tests/infra/checkov_env.py, created on first use: about a minute).
It reports a template it cannot parse as "0 failed" with exit 0, so the scan is also checked to have covered every
template and every resource.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import decode

from tests.infra import checkov_env

REPO = Path(__file__).resolve().parents[2]
TEMPLATE_DIR = REPO / "infra" / "cloudformation"
TEMPLATES = sorted(TEMPLATE_DIR.glob("*.y*ml"))
CHECKOV_ENV = Path(__file__).with_name("checkov_env.py")

CFN_LINT_FAILED, CFN_LINT_ERROR, CFN_LINT_WARNING = 1, 2, 4

WILDCARD_ROLE = """\
AWSTemplateFormatVersion: "2010-09-09"
Resources:
  DoAnything:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: "2012-10-17"
        Statement:
          - {Effect: Allow, Principal: {Service: lambda.amazonaws.com}, Action: sts:AssumeRole}
      Policies:
        - PolicyName: everything
          PolicyDocument:
            Version: "2012-10-17"
            Statement:
              - {Effect: Allow, Action: "*", Resource: "*"}
"""

DANGLING_REF = """\
AWSTemplateFormatVersion: "2010-09-09"
Resources:
  Topic:
    Type: AWS::SNS::Topic
    Properties:
      KmsMasterKeyId: !Ref KeyThatIsNotDeclared
"""

UNPARSEABLE = """\
AWSTemplateFormatVersion: "2010-09-09"
Resources:
  Bucket:
    Type: AWS::S3::Bucket
    Properties: {BucketName: [unclosed
"""


def cfn_lint(*paths: Path) -> tuple[int, list[dict[str, Any]]]:
    """cfn-lint's exit status and its findings (JSON)."""
    executable = Path(sys.executable).parent / "cfn-lint"
    if not executable.exists():
        pytest.fail("cfn-lint is not installed: pip install -e '.[dev]'")
    command = [str(executable), "--format", "json", *map(str, paths)]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode & CFN_LINT_FAILED == 0, f"cfn-lint itself failed:\n{result.stderr}"
    return result.returncode, json.loads(result.stdout or "[]")


def checkov(directory: Path) -> dict[str, Any]:
    """checkov's CloudFormation report on a directory (its JSON, passed checks included)."""
    command = [sys.executable, str(CHECKOV_ENV), "--framework", "cloudformation", "--skip-download",
               "--directory", str(directory), "--output", "json"]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=900)
    # Exit 0: nothing failed; 1: some check failed. Anything else (checkov could not be installed) is no report.
    assert result.returncode in (0, 1), f"checkov did not run (exit {result.returncode}):\n{result.stderr}"
    return json.loads(result.stdout)


def resource_count(template: Path) -> int:
    parsed, problems = decode(str(template))
    assert not problems and parsed is not None, problems
    return len(parsed["Resources"])


def unscanned(report: dict[str, Any], directory: Path) -> list[str]:
    """The templates in `directory` that checkov did not report a single check on."""
    results = report["results"]
    checked = {check["file_path"].lstrip("/") for kind in ("passed_checks", "failed_checks", "skipped_checks")
               for check in results[kind]}
    return sorted(path.name for path in directory.glob("*.y*ml") if path.name not in checked)


def failures(report: dict[str, Any]) -> list[str]:
    return sorted(f"{check['check_id']} {check['resource']}" for check in report["results"]["failed_checks"])


@pytest.fixture(scope="module")
def checkov_report() -> dict[str, Any]:
    return checkov(TEMPLATE_DIR)


def test_there_are_templates_to_lint() -> None:
    assert [path.name for path in TEMPLATES] and all(resource_count(path) for path in TEMPLATES)


def test_cfn_lint_finds_no_error_and_no_warning() -> None:
    status, findings = cfn_lint(*TEMPLATES)
    assert status & (CFN_LINT_ERROR | CFN_LINT_WARNING) == 0, json.dumps(findings, indent=1)


def test_cfn_lint_reports_a_ref_to_nothing(tmp_path: Path) -> None:
    (tmp_path / "dangling.yml").write_text(DANGLING_REF)
    status, findings = cfn_lint(tmp_path / "dangling.yml")
    assert status & CFN_LINT_ERROR
    assert [(finding["Rule"]["Id"], "KeyThatIsNotDeclared" in finding["Message"]) for finding in findings] == [
        ("E1020", True)
    ]


def test_checkov_fails_no_check_on_any_template(checkov_report: dict[str, Any]) -> None:
    assert failures(checkov_report) == []
    assert checkov_report["summary"]["passed"] > 0


def test_checkov_scanned_every_template_and_every_resource(checkov_report: dict[str, Any]) -> None:
    summary = checkov_report["summary"]
    assert summary["parsing_errors"] == 0, checkov_report["results"].get("parsing_errors")
    assert unscanned(checkov_report, TEMPLATE_DIR) == []
    assert summary["resource_count"] == sum(map(resource_count, TEMPLATES))


def test_every_checkov_skip_says_why(checkov_report: dict[str, Any]) -> None:
    """A skip is written next to its resource (Metadata checkov.skip or a `# checkov:skip=` comment), with a reason."""
    for skip in checkov_report["results"]["skipped_checks"]:
        reason = skip["check_result"].get("suppress_comment", "")
        assert len(reason) > 20 and reason != "No comment provided", skip["check_id"]
    assert not list(REPO.glob(".checkov.y*ml")), "checkov reads .checkov.yaml by itself: skips are made inline"


def test_a_skip_in_the_resource_s_metadata_is_reported_with_its_reason(tmp_path: Path) -> None:
    """The way a skip is written in these templates works: checkov reports it as skipped, with the reason."""
    reason = "an example, this role exists only to prove that checkov reads the skip"
    skip = f"    Metadata:\n      checkov:\n        skip:\n          - id: CKV_AWS_62\n            comment: {reason}\n"
    (tmp_path / "skipped.yml").write_text(WILDCARD_ROLE.replace("    Properties:\n", skip + "    Properties:\n", 1))
    report = checkov(tmp_path)
    skipped = [(check["check_id"], check["check_result"]["suppress_comment"]) for check in
               report["results"]["skipped_checks"]]
    assert skipped == [("CKV_AWS_62", reason)]
    assert "CKV_AWS_62 AWS::IAM::Role.DoAnything" not in failures(report)


def test_checkov_fails_a_role_allowed_every_action_on_every_resource(tmp_path: Path) -> None:
    (tmp_path / "wildcard.yml").write_text(WILDCARD_ROLE)
    report = checkov(tmp_path)
    assert {"CKV_AWS_62 AWS::IAM::Role.DoAnything", "CKV_AWS_63 AWS::IAM::Role.DoAnything"} <= set(failures(report))


def test_a_template_checkov_cannot_parse_is_caught_as_unscanned(tmp_path: Path) -> None:
    """checkov itself passes it (0 failed, exit 0): only the coverage check notices."""
    (tmp_path / "broken.yml").write_text(UNPARSEABLE)
    report = checkov(tmp_path)
    assert (failures(report), report["summary"]["parsing_errors"]) == ([], 1)
    assert unscanned(report, tmp_path) == ["broken.yml"]


def test_when_checkov_cannot_be_installed_the_lint_fails_with_pip_s_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Never a silent pass or a skip: no checkov, no report (pip here is told to use no package index)."""
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    with pytest.raises(checkov_env.InstallFailed, match=f"checkov=={checkov_env.CHECKOV_VERSION}"):
        checkov_env.checkov_executable(tmp_path / "venv")
    assert not list((tmp_path / "venv").glob("*.ready"))
