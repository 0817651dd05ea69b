"""Care Hub: one graph of care packages, people, staff competencies, visits, referrals,
change requests and exception cases, linking supplier, NHS and local-authority systems."""

__version__ = "0.1.0"
