"""The clinical-safety hazard log: one YAML file per hazard, checked and rendered to Markdown.

Each `docs/clinical-safety/hazards/<slug>.yaml` names a hazard the hub could cause or fail to
prevent, its cause and effect, DCB0129 severity and likelihood, the mitigation in the code, and
the pytest node ids that prove the mitigation. `tests/test_hazard_log.py` fails when a file is
malformed, when a named test no longer exists, or when `docs/clinical-safety/hazard-log.md` is
not the rendering of the YAML files. Regenerate the Markdown after editing a hazard:

    .venv/bin/python -m tests.support.hazard_log --write     # rewrite hazard-log.md
    .venv/bin/python -m tests.support.hazard_log --check     # exit 1 on any problem

Test ids are resolved by reading the test file with `ast` (nothing is imported or run):
`path::function`, `path::Class::method`, and a parametrised `function[...]` names the function.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped, unused-ignore]  # stubs: types-PyYAML, if installed

ROOT = Path(__file__).resolve().parents[2]
SAFETY_DIR = ROOT / "docs" / "clinical-safety"
HAZARDS_DIR = SAFETY_DIR / "hazards"
LOG_FILE = SAFETY_DIR / "hazard-log.md"
REGENERATE = ".venv/bin/python -m tests.support.hazard_log --write"

SEVERITIES = ("Minor", "Significant", "Considerable", "Major", "Catastrophic")
LIKELIHOODS = ("Very low", "Low", "Medium", "High", "Very high")
# DCB0129 risk matrix (NHS Digital's implementation guidance): rows by likelihood, columns by
# severity in the order of SEVERITIES; the cell is the clinical risk rating, 1 to 5.
RISK_MATRIX: dict[str, tuple[int, int, int, int, int]] = {
    "Very high": (3, 4, 4, 5, 5),
    "High": (2, 3, 3, 4, 5),
    "Medium": (2, 2, 3, 3, 4),
    "Low": (1, 2, 2, 3, 4),
    "Very low": (1, 1, 2, 2, 3),
}
RISK_MEANING = {
    1: ("Very low", "Acceptable; no further action needed."),
    2: ("Low", "Acceptable where further reduction is impractical."),
    3: ("Medium", "Undesirable: acceptable only with the Clinical Safety Officer's justification."),
    4: ("High", "Unacceptable: further controls are mandatory before release."),
    5: ("Very high", "Unacceptable: the hazard must be removed."),
}
REQUIRED = ("title", "cause", "effect", "severity", "likelihood", "mitigation", "tests")
SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
NODE_ID = re.compile(r"(?P<path>tests/[\w/.-]+\.py)::(?P<names>[A-Za-z_]\w*(?:::[A-Za-z_]\w*)?)")


@dataclass(frozen=True)
class Hazard:
    slug: str
    title: str
    cause: str
    effect: str
    severity: str
    likelihood: str
    mitigation: str
    tests: tuple[str, ...]

    @property
    def risk(self) -> int:
        return RISK_MATRIX[self.likelihood][SEVERITIES.index(self.severity)]


def risk_rating(severity: str, likelihood: str) -> int:
    return RISK_MATRIX[likelihood][SEVERITIES.index(severity)]


# --- reading ----------------------------------------------------------------------------------


def _text(document: dict[str, Any], key: str, where: str, problems: list[str]) -> str:
    value = document.get(key)
    if not isinstance(value, str) or not value.strip():
        problems.append(f"{where}: `{key}` must be non-empty text")
        return ""
    return " ".join(value.split())


def parse_hazard(path: Path, root: Path = ROOT) -> tuple[Hazard | None, list[str]]:
    """One hazard file, and what is wrong with it (an empty list when nothing is)."""
    where = path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)
    problems: list[str] = []
    if not SLUG.fullmatch(path.stem) or path.suffix != ".yaml":
        problems.append(f"{where}: name the file <short-kebab-slug>.yaml")
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        return None, [f"{where}: not YAML ({error})"]
    if not isinstance(document, dict):
        return None, [f"{where}: must be a mapping of {', '.join(REQUIRED)}"]
    unknown = sorted(set(map(str, document)) - set(REQUIRED))
    if unknown:
        problems.append(f"{where}: unknown field(s) {', '.join(unknown)}")
    missing = [key for key in REQUIRED if key not in document]
    if missing:
        problems.append(f"{where}: missing field(s) {', '.join(missing)}")
    title, cause, effect, mitigation = (
        _text(document, key, where, problems) for key in ("title", "cause", "effect", "mitigation")
    )
    severity, likelihood = document.get("severity"), document.get("likelihood")
    if severity not in SEVERITIES:
        problems.append(f"{where}: `severity` must be one of {', '.join(SEVERITIES)}")
    if likelihood not in LIKELIHOODS:
        problems.append(f"{where}: `likelihood` must be one of {', '.join(LIKELIHOODS)}")
    tests = document.get("tests")
    if not isinstance(tests, list) or not tests or not all(isinstance(t, str) for t in tests):
        problems.append(f"{where}: `tests` must list at least one pytest node id")
        tests = []
    elif len(set(tests)) != len(tests):
        problems.append(f"{where}: a test is listed twice")
    for node_id in tests:
        problem = missing_test(node_id, root)
        if problem:
            problems.append(f"{where}: {problem}")
    if problems:
        return None, problems
    return (
        Hazard(
            slug=path.stem,
            title=title,
            cause=cause,
            effect=effect,
            severity=str(severity),
            likelihood=str(likelihood),
            mitigation=mitigation,
            tests=tuple(tests),
        ),
        [],
    )


def missing_test(node_id: str, root: Path = ROOT) -> str | None:
    """Why `node_id` names no test in the checkout, or None when it names one."""
    bare = node_id.split("[", 1)[0]
    if "[" in node_id and not node_id.endswith("]"):
        return f"{node_id}: malformed parameter suffix"
    match = NODE_ID.fullmatch(bare)
    if not match:
        return f"{node_id}: not a node id like tests/x/test_y.py::test_z or ...::TestC::test_z"
    path = root / match["path"]
    if not path.is_file():
        return f"{node_id}: no such test file"
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    scope: list[ast.stmt] = tree.body
    names = match["names"].split("::")
    for index, name in enumerate(names):
        last = index == len(names) - 1
        found: ast.stmt | None = None
        for node in scope:
            wanted = (ast.FunctionDef, ast.AsyncFunctionDef) if last else (ast.ClassDef,)
            if isinstance(node, wanted) and node.name == name:
                found = node
        if found is None:
            return f"{node_id}: no test named {name} in {match['path']}"
        if not last:
            assert isinstance(found, ast.ClassDef)
            scope = found.body
    if not names[-1].startswith("test"):
        return f"{node_id}: {names[-1]} is not collected by pytest (name it test_...)"
    return None


def load(hazards_dir: Path = HAZARDS_DIR, root: Path = ROOT) -> tuple[list[Hazard], list[str]]:
    """Every hazard file, ordered by risk (highest first) then slug; and all problems found."""
    hazards: list[Hazard] = []
    problems: list[str] = []
    files = sorted(hazards_dir.glob("*"))
    if not files:
        problems.append(f"{hazards_dir}: no hazard files")
    for path in files:
        if path.name.startswith("."):
            continue
        hazard, found = parse_hazard(path, root)
        problems.extend(found)
        if hazard is not None:
            hazards.append(hazard)
    titles = [h.title for h in hazards]
    shared = sorted({t for t in titles if titles.count(t) > 1})
    problems.extend(f"two hazards share the title {t!r}" for t in shared)
    hazards.sort(key=lambda h: (-h.risk, h.slug))
    return hazards, problems


# --- rendering --------------------------------------------------------------------------------

HEADER = """\
# Clinical-safety hazard log

<!-- Generated from docs/clinical-safety/hazards/*.yaml: edit those, then run
     {regenerate}
     tests/test_hazard_log.py fails when this file is not their rendering. -->

Care Hub decides whether a missed or late visit is noticed, which carer sees a person's key-safe
code, who may give medication and whether a referral waits too long. Software that does that is
health IT under **DCB0129** (*Clinical Risk Management: its Application in the Manufacture of
Health IT Systems*): its manufacturer keeps a clinical risk management process, a named
Clinical Safety Officer, this hazard log and a safety case report, and reassesses the log on
every change. Each care provider, council or NHS body that deploys the hub does the same for
its own use under **DCB0160** (*… in the Deployment and Use of Health IT Systems*): its hazard
log starts from this one and adds what its own set-up brings (its identity provider, its
supplier feeds, its rotas, its staff training). Neither party can sign off the other's risks.

Each hazard below names what could go wrong (cause), what it would mean for the person
receiving care (effect), the mitigation **as built in the code** and the tests that prove the
mitigation. Severity and likelihood are judged *after* the mitigation; the risk rating comes
from the matrix below. A hazard whose mitigation is partial says so, and its likelihood shows it.

## Keeping it honest

- One hazard per file in [`hazards/`](hazards/) (`<short-kebab-slug>.yaml`, fields `title`,
  `cause`, `effect`, `severity`, `likelihood`, `mitigation`, `tests`).
- `tests` are pytest node ids (`tests/x/test_y.py::test_z`, `...::TestClass::test_z`, a
  parametrised `test_z[...]`). `tests/test_hazard_log.py` fails CI when one no longer exists,
  when a field is missing or out of range, or when this file is stale. Regenerate it with
  `{regenerate}`.
- A change that removes or weakens a mitigation must update its hazard in the same commit.

## Risk matrix

Severity of the effect (DCB0129): **Minor** (minor injury or distress, short-term),
**Significant** (minor injury or harm with a longer recovery), **Considerable** (severe injury
or lasting harm to one person), **Major** (death or permanent harm to one person, or severe harm
to several), **Catastrophic** (death or permanent harm to many). Likelihood after mitigation:
**Very low** (negligible, or nearly impossible), **Low** (could occur, but in the great majority of
occasions will not), **Medium** (might happen), **High** (will probably occur, but it is not a
persistent issue), **Very high** (certain or almost certain; highly likely to occur often).

| likelihood \\ severity | {severities} |
|---|{columns}
{matrix}

| rating | risk | meaning |
|---|---|---|
{meanings}
"""


def render(hazards: list[Hazard]) -> str:
    matrix = "\n".join(
        f"| **{likelihood}** | " + " | ".join(str(r) for r in RISK_MATRIX[likelihood]) + " |"
        for likelihood in reversed(LIKELIHOODS)
    )
    meanings = "\n".join(
        f"| {rating} | {name} | {meaning} |" for rating, (name, meaning) in RISK_MEANING.items()
    )
    parts = [
        HEADER.format(
            regenerate=REGENERATE,
            severities=" | ".join(SEVERITIES),
            columns="---|" * len(SEVERITIES),
            matrix=matrix,
            meanings=meanings,
        )
    ]
    parts.append("## Summary\n")
    parts.append("| hazard | severity | likelihood | risk |")
    parts.append("|---|---|---|---|")
    for hazard in hazards:
        name = RISK_MEANING[hazard.risk][0]
        parts.append(
            f"| [{hazard.title}](#{hazard.slug}) | {hazard.severity} | {hazard.likelihood} "
            f"| {hazard.risk} ({name}) |"
        )
    parts.append("")
    for hazard in hazards:
        name = RISK_MEANING[hazard.risk][0]
        tests = "\n".join(f"- `{node_id}`" for node_id in hazard.tests)
        parts.append(
            f'<a id="{hazard.slug}"></a>\n'
            f"## {hazard.title}\n\n"
            f"*Source: [`hazards/{hazard.slug}.yaml`](hazards/{hazard.slug}.yaml). "
            f"Severity {hazard.severity}, likelihood {hazard.likelihood}: "
            f"risk {hazard.risk} ({name}).*\n\n"
            f"**Cause.** {hazard.cause}\n\n"
            f"**Effect.** {hazard.effect}\n\n"
            f"**Mitigation.** {hazard.mitigation}\n\n"
            f"**Tests.**\n\n{tests}\n"
        )
    return "\n".join(parts).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.hazard_log")
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", action="store_true", help=f"rewrite {LOG_FILE.name}")
    action.add_argument("--check", action="store_true", help="exit 1 on any problem")
    args = parser.parse_args(argv)
    hazards, problems = load(HAZARDS_DIR, ROOT)
    for problem in problems:
        print(f"hazard log: {problem}", file=sys.stderr)
    if problems:
        return 1
    text = render(hazards)
    if args.write:
        LOG_FILE.write_text(text, encoding="utf-8")
        print(f"wrote {LOG_FILE.relative_to(ROOT)} ({len(hazards)} hazards)")
        return 0
    current = LOG_FILE.read_text(encoding="utf-8") if LOG_FILE.exists() else ""
    if current != text:
        stale = LOG_FILE.relative_to(ROOT)
        print(f"hazard log: {stale} is stale: run {REGENERATE}", file=sys.stderr)
        return 1
    print(f"hazard log: {len(hazards)} hazards, every test id exists, {LOG_FILE.name} current")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
