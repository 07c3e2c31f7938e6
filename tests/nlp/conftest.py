"""Shared fixtures: the default classifier is built once per session (jieba load is ~1 s)."""

from __future__ import annotations

import pytest

from nlp import Classifier, default_classifier


@pytest.fixture(scope="session")
def clf() -> Classifier:
    return default_classifier()
