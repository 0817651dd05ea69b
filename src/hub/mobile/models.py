"""Tables of the mobile domain (see ../shared/DESIGN.md §4)."""

from __future__ import annotations
