"""Tables of the integrations domain (see ../shared/DESIGN.md §4)."""

from __future__ import annotations
