"""The demo and the generators of its inputs: repo-only code, not part of the installed package."""
