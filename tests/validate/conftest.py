"""Fixtures for validation tests; the factories live in factory.py."""

from __future__ import annotations

import pytest

from .factory import TEMPLATE


@pytest.fixture
def template():
    return TEMPLATE
