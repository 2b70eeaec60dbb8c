"""Shared by the bench scripts: replacing one section of BENCHMARKS.md."""
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"


def write_section(title: str, section: str) -> None:
    """Replace the section headed `title` (up to the next `## `) with `section`, or append it."""
    text = BENCHMARKS.read_text() if BENCHMARKS.exists() else "# Benchmarks\n"
    lines = text.splitlines()
    if title in lines:
        start = lines.index(title)
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        new = lines[:start] + section.rstrip("\n").splitlines() + [""] + lines[end:]
    else:
        new = lines + ([""] if lines and lines[-1] else []) + section.rstrip("\n").splitlines()
    BENCHMARKS.write_text("\n".join(new).rstrip("\n") + "\n")
