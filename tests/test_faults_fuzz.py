"""The fuzz targets (tests/fuzz_targets.py), briefly: a few hundred fixed examples each."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.faults_input import NASTY, texts
from tests.fuzz_targets import TARGETS

INPUTS = st.one_of(
    st.binary(max_size=300),
    texts.map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.builds(
        lambda cmd, t: (cmd + t).encode("utf-8", "surrogatepass"),
        st.sampled_from(["#接单", "#评价 1001 ", "＃办结１０", "/转派 1 @", "@红管家 ", "报修"]),
        texts,
    ),
)


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_fuzz_target(name: str) -> None:
    target: Callable[[bytes], None] = TARGETS[name]
    for text in NASTY:
        target(text.encode("utf-8", "surrogatepass"))
    run = given(INPUTS)(
        settings(max_examples=300, deadline=None, derandomize=True, database=None)(target)
    )
    run()
