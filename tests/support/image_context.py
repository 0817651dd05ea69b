"""The container image's wheel, built without Docker from exactly what `deploy/Dockerfile` copies.

The image's build stage copies a handful of paths into `/src` and runs `pip wheel .` there. When
`pyproject.toml` starts needing a path the Dockerfile does not copy (a force-included directory,
a new package), only `docker build` would notice, and nothing here runs Docker. So this module
reads the build stage's COPY lines, lays those paths out in a scratch directory as the image
would (leaving out what `Dockerfile.dockerignore` keeps out of the context), and builds the wheel
there with the project's own build backend. Comparing that wheel with one built from the whole
checkout shows both kinds of failure: a build that breaks, and a wheel that silently lacks files.

    .venv/bin/python -m tests.support.image_context      # what CI runs; exit 1 on a difference
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
DOCKERIGNORE = ROOT / "deploy" / "Dockerfile.dockerignore"


class ImageContextError(Exception):
    """The build stage cannot be reproduced: a COPY source is missing or the wheel build fails."""


@dataclass(frozen=True)
class Copy:
    sources: tuple[str, ...]
    destination: str


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    found: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#") or (not pending and not line):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, rest = (pending + line).partition(" ")
        found.append((keyword.upper(), rest.strip()))
        pending = ""
    if pending:
        raise ImageContextError("the Dockerfile ends inside a continuation line")
    return found


def wheel_stage_copies(text: str) -> tuple[str, list[Copy]]:
    """The WORKDIR and the context COPY lines of the stage that runs `pip wheel`."""
    stages: list[list[tuple[str, str]]] = []
    for keyword, rest in instructions(text):
        if keyword == "FROM":
            stages.append([])
        elif stages:
            stages[-1].append((keyword, rest))
    for stage in stages:
        if not any(k == "RUN" and "pip wheel" in rest for k, rest in stage):
            continue
        workdir = "/"
        copies: list[Copy] = []
        for keyword, rest in stage:
            if keyword == "WORKDIR":
                workdir = rest
            elif keyword == "COPY" and "--from=" not in rest:
                parts = [p for p in rest.split() if not p.startswith("--")]
                copies.append(Copy(tuple(parts[:-1]), parts[-1]))
        return workdir, copies
    raise ImageContextError("no stage of the Dockerfile runs `pip wheel`")


def ignore_patterns(text: str) -> list[re.Pattern[str]]:
    """`.dockerignore` lines as regular expressions over context-relative POSIX paths."""
    patterns = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("!"):
            raise ImageContextError(f"dockerignore exceptions are not supported here: {line}")
        regex = ""
        rest = line.strip("/")
        while rest:
            if rest.startswith("**/"):
                regex += "(?:.*/)?"
                rest = rest[3:]
            elif rest.startswith("**"):
                regex += ".*"
                rest = rest[2:]
            elif rest[0] == "*":
                regex += "[^/]*"
                rest = rest[1:]
            elif rest[0] == "?":
                regex += "[^/]"
                rest = rest[1:]
            else:
                regex += re.escape(rest[0])
                rest = rest[1:]
        patterns.append(re.compile(regex))
    return patterns


def ignored(relative: PurePosixPath, patterns: list[re.Pattern[str]]) -> bool:
    """Docker leaves out a path when it, or any directory above it, matches a pattern."""
    parts = relative.parts
    for end in range(1, len(parts) + 1):
        prefix = "/".join(parts[:end])
        if any(p.fullmatch(prefix) for p in patterns):
            return True
    return False


def stage_context(
    root: Path, target: Path, dockerfile_text: str, dockerignore_text: str
) -> list[str]:
    """Lay out in `target` what the wheel stage's COPY lines put in its WORKDIR; returns the
    context paths copied. Raises ImageContextError for a source missing from the checkout."""
    workdir, copies = wheel_stage_copies(dockerfile_text)
    patterns = ignore_patterns(dockerignore_text)
    copied: list[str] = []
    for copy in copies:
        into_dir = copy.destination.endswith("/") or len(copy.sources) > 1
        for source in copy.sources:
            origin = root / source
            if not origin.exists() or ignored(PurePosixPath(source), patterns):
                raise ImageContextError(f"COPY {source}: not in the build context")
            destination = PurePosixPath(workdir, copy.destination)
            if into_dir and origin.is_file():
                destination = destination / origin.name
            local = target / destination.relative_to(workdir)
            files = [origin] if origin.is_file() else sorted(origin.rglob("*"))
            for path in files:
                if not path.is_file():
                    continue
                relative = PurePosixPath(path.relative_to(root).as_posix())
                if ignored(relative, patterns):
                    continue
                inside = path.relative_to(origin) if origin.is_dir() else Path()
                out = local / inside if origin.is_dir() else local
                out.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, out)
                copied.append(relative.as_posix())
    return copied


def build_wheel(project: Path, out: Path) -> Path:
    """`pip wheel --no-deps` as the image runs it, with this environment's hatchling (no
    download: build isolation would fetch the backend from the package index on every run)."""
    out.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--disable-pip-version-check",
            "--wheel-dir",
            str(out),
            str(project),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        raise ImageContextError(f"the wheel does not build:\n{result.stdout}\n{result.stderr}")
    (wheel,) = out.glob("care_hub-*.whl")
    return wheel


def wheel_files(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return {name for name in archive.namelist() if ".dist-info/" not in name}


@dataclass(frozen=True)
class Comparison:
    image_wheel: Path
    checkout_wheel: Path
    missing: frozenset[str]  # in the checkout's wheel, not in the image's
    extra: frozenset[str]


def compare(
    scratch: Path,
    *,
    root: Path = ROOT,
    dockerfile_text: str | None = None,
    dockerignore_text: str | None = None,
) -> Comparison:
    """Build the wheel from the Dockerfile's files and from a clean copy of the checkout's
    tracked files, and compare their contents."""
    context = scratch / "image-context"
    stage_context(
        root,
        context,
        DOCKERFILE.read_text() if dockerfile_text is None else dockerfile_text,
        DOCKERIGNORE.read_text() if dockerignore_text is None else dockerignore_text,
    )
    image_wheel = build_wheel(context, scratch / "image-wheel")
    checkout = scratch / "checkout"
    tracked = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, tracked.split("\0")):
        source = root / name
        if source.is_file():
            (checkout / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, checkout / name)
    checkout_wheel = build_wheel(checkout, scratch / "checkout-wheel")
    image, full = wheel_files(image_wheel), wheel_files(checkout_wheel)
    return Comparison(image_wheel, checkout_wheel, frozenset(full - image), frozenset(image - full))


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="care-hub-image-") as scratch:
        try:
            result = compare(Path(scratch))
        except ImageContextError as error:
            print(f"image context: {error}", file=sys.stderr)
            return 1
        if result.missing or result.extra:
            print(
                "image context: the image's wheel differs from the checkout's:\n"
                f"  missing: {sorted(result.missing)}\n  extra: {sorted(result.extra)}",
                file=sys.stderr,
            )
            return 1
        count = len(wheel_files(result.image_wheel))
        print(f"image context: {result.image_wheel.name} builds, {count} files, as the checkout's")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
