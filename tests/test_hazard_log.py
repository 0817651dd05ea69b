"""The clinical-safety hazard log stays honest: every hazard file is well formed, every test it
cites as proof still exists, and `docs/clinical-safety/hazard-log.md` is their rendering."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import hazard_log

VALID = """\
title: {title}
cause: A cause.
effect: An effect on the person.
severity: Major
likelihood: Low
mitigation: What src/hub/x.py does.
tests:
{tests}
"""

TEST_FILE = """\
import pytest

def helper():
    pass

def test_plain():
    pass

async def test_async():
    pass

@pytest.mark.parametrize("x", [1, 2])
def test_parametrised(x):
    pass

class TestGroup:
    def test_method(self):
        pass
"""


def test_every_hazard_file_is_valid_and_cites_tests_that_exist() -> None:
    hazards, problems = hazard_log.load()
    assert problems == []
    assert len(hazards) >= 7
    for hazard in hazards:
        assert hazard.tests, hazard.slug


def test_the_rendered_log_is_current() -> None:
    hazards, _ = hazard_log.load()
    expected = hazard_log.render(hazards)
    assert hazard_log.LOG_FILE.read_text(encoding="utf-8") == expected, (
        f"docs/clinical-safety/hazard-log.md is stale: run {hazard_log.REGENERATE}"
    )


def test_the_rendered_log_explains_itself_and_lists_every_hazard() -> None:
    text = hazard_log.LOG_FILE.read_text(encoding="utf-8")
    for needed in ("DCB0129", "DCB0160", "Risk matrix", hazard_log.REGENERATE):
        assert needed in text
    hazards, _ = hazard_log.load()
    for hazard in hazards:
        assert f"## {hazard.title}" in text
        for node_id in hazard.tests:
            assert f"`{node_id}`" in text


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A stand-in checkout: a test file and an empty hazards directory."""
    (tmp_path / "tests" / "area").mkdir(parents=True)
    (tmp_path / "tests" / "area" / "test_things.py").write_text(TEST_FILE)
    (tmp_path / "hazards").mkdir()
    return tmp_path


def write_hazard(checkout: Path, slug: str, *node_ids: str, title: str = "A hazard") -> Path:
    tests = "\n".join(f"  - {node_id}" for node_id in node_ids)
    path = checkout / "hazards" / f"{slug}.yaml"
    path.write_text(VALID.format(title=title, tests=tests))
    return path


def test_node_ids_of_every_shape_resolve(checkout: Path) -> None:
    write_hazard(
        checkout,
        "shapes",
        "tests/area/test_things.py::test_plain",
        "tests/area/test_things.py::test_async",
        "tests/area/test_things.py::test_parametrised[1]",
        "tests/area/test_things.py::test_parametrised",
        "tests/area/test_things.py::TestGroup::test_method",
    )
    hazards, problems = hazard_log.load(checkout / "hazards", checkout)
    assert problems == []
    assert [h.slug for h in hazards] == ["shapes"]
    assert hazards[0].risk == 3  # Major x Low


@pytest.mark.parametrize(
    ("node_id", "complaint"),
    [
        ("tests/area/test_things.py::test_gone", "no test named test_gone"),
        ("tests/area/test_missing.py::test_plain", "no such test file"),
        ("tests/area/test_things.py::TestGroup::test_gone", "no test named test_gone"),
        ("tests/area/test_things.py::TestOther::test_method", "no test named TestOther"),
        ("tests/area/test_things.py::test_method", "no test named test_method"),
        ("tests/area/test_things.py::helper", "not collected by pytest"),
        ("tests/area/test_things.py::test_parametrised[1", "malformed parameter"),
        ("test_things.py::test_plain", "not a node id"),
    ],
)
def test_a_test_id_that_names_no_test_fails_the_check(
    checkout: Path, node_id: str, complaint: str
) -> None:
    write_hazard(checkout, "broken", "tests/area/test_things.py::test_plain", node_id)
    hazards, problems = hazard_log.load(checkout / "hazards", checkout)
    assert hazards == []
    assert len(problems) == 1
    assert "hazards/broken.yaml" in problems[0]
    assert complaint in problems[0]


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        (("severity: Major", "severity: Serious"), "`severity` must be one of"),
        (("likelihood: Low", "likelihood: Rare"), "`likelihood` must be one of"),
        (("cause: A cause.\n", ""), "missing field(s) cause"),
        (("cause: A cause.", "cause: ''"), "`cause` must be non-empty"),
        (("title:", "owner: someone\ntitle:"), "unknown field(s) owner"),
        (("tests:\n  - tests/area/test_things.py::test_plain", "tests: []"), "`tests` must list"),
    ],
)
def test_a_malformed_hazard_fails_the_check(
    checkout: Path, change: tuple[str, str], complaint: str
) -> None:
    path = write_hazard(checkout, "malformed", "tests/area/test_things.py::test_plain")
    old, new = change
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    hazards, problems = hazard_log.load(checkout / "hazards", checkout)
    assert hazards == []
    assert any(complaint in p for p in problems), problems


def test_file_names_and_titles_are_unique_slugs(checkout: Path) -> None:
    write_hazard(checkout, "Not_A_Slug", "tests/area/test_things.py::test_plain", title="One")
    write_hazard(checkout, "first", "tests/area/test_things.py::test_plain", title="Same")
    write_hazard(checkout, "second", "tests/area/test_things.py::test_async", title="Same")
    _, problems = hazard_log.load(checkout / "hazards", checkout)
    assert any("Not_A_Slug.yaml: name the file" in p for p in problems), problems
    assert any("two hazards share the title 'Same'" in p for p in problems), problems


def test_the_risk_matrix_rises_with_severity_and_likelihood() -> None:
    for likelihood in hazard_log.LIKELIHOODS:
        row = hazard_log.RISK_MATRIX[likelihood]
        assert list(row) == sorted(row)
    for index in range(len(hazard_log.SEVERITIES)):
        column = [hazard_log.RISK_MATRIX[lk][index] for lk in hazard_log.LIKELIHOODS]
        assert column == sorted(column)
    assert hazard_log.risk_rating("Catastrophic", "Very high") == 5
    assert hazard_log.risk_rating("Minor", "Very low") == 1


def test_the_command_line_check_fails_on_a_stale_log(
    checkout: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_hazard(checkout, "one", "tests/area/test_things.py::test_plain")
    monkeypatch.setattr(hazard_log, "ROOT", checkout)
    monkeypatch.setattr(hazard_log, "HAZARDS_DIR", checkout / "hazards")
    monkeypatch.setattr(hazard_log, "LOG_FILE", checkout / "hazard-log.md")
    assert hazard_log.main(["--check"]) == 1
    assert hazard_log.main(["--write"]) == 0
    assert hazard_log.main(["--check"]) == 0
    write_hazard(checkout, "two", "tests/area/test_things.py::test_gone", title="Two")
    assert hazard_log.main(["--check"]) == 1
    assert "no test named test_gone" in capsys.readouterr().err
