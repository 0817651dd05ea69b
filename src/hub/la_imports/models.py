"""Tables of the la_imports domain (see ../shared/DESIGN.md §4)."""

from __future__ import annotations
