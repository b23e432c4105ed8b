"""The declared lower bounds of numpy and pandas are the ones .ci/run tests."""

import re
from pathlib import Path

from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]


def _floors() -> dict[str, str]:
    text = (ROOT / "pyproject.toml").read_text()
    dependencies = text[
        text.index("dependencies = [") : text.index("]", text.index("dependencies = ["))
    ]
    return dict(re.findall(r'"([a-z-]+)>=([0-9.]+)"', dependencies))


def test_the_oldest_versions_ci_tests_are_the_declared_floors():
    pins = dict(
        re.findall(
            r"^([a-z-]+)==([0-9.]+)$", (ROOT / ".ci" / "oldest.txt").read_text(), re.MULTILINE
        )
    )
    floors = _floors()
    assert set(pins) == {"numpy", "pandas"}
    assert {name: Version(floors[name]) for name in pins} == {
        name: Version(v) for name, v in pins.items()
    }


def test_ci_runs_the_readme_test_command_and_the_oldest_deps_job():
    readme, ci = (ROOT / "README.md").read_text(), (ROOT / ".ci" / "run").read_text()
    command = next(
        line
        for line in readme.splitlines()
        if "pytest" in line and line.startswith("python3 -m pip")
    )
    assert command in ci.splitlines()
    assert "-c .ci/oldest.txt" in ci and "-m oldest_deps" in ci


def test_ci_checks_the_style_with_the_ruff_the_test_extra_installs_before_the_tests():
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    text = (ROOT / "pyproject.toml").read_text()
    extra = text[text.index("\ntest = [") : text.index("]", text.index("\ntest = ["))]
    assert re.search(r'"ruff>=[0-9.]+', extra)
    install = next(i for i, line in enumerate(ci) if 'pip install -e ".[test]"' in line)
    style = next(i for i, line in enumerate(ci) if "ruff check . && " in line)
    tests = next(i for i, line in enumerate(ci) if "pytest -q tests" in line)
    assert install < style < tests
    assert "ruff format --check ." in ci[style]
