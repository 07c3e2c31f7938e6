"""Fuzz targets for the classifier, the command parser and the group mask.

Each target takes bytes (so atheris can drive it too) and checks invariants; a failure raises.
`make test` runs them briefly through hypothesis (tests/test_faults_fuzz.py); for a longer run:

    python -m tests.fuzz_targets --examples 20000          # hypothesis, random seed
    python -m tests.fuzz_targets --atheris parser -- -max_total_time=600   # if atheris installed
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable

from handlers.errors import UsageError
from handlers.main import build_router
from handlers.privacy import mask_for_group, mask_phones
from handlers.router import normalise
from nlp import default_classifier

INTENTS = {"complaint", "consult", "none", "resolved", "notice"}
_PHONE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
_router = build_router()
_names = [(f"wxid_{i}", n) for i, n in enumerate(["张阿姨", "李网格", "王红管", "小刘"])]


def text_of(data: bytes) -> str:
    """Bytes as text, the way a channel might hand over anything."""
    return data.decode("utf-8", "replace")


def fuzz_classifier(data: bytes) -> None:
    """The classifier answers every text, within its vocabulary, the same way twice."""
    clf = default_classifier()
    text = text_of(data)
    u = clf.classify(text)
    assert u.intent in INTENTS, u
    assert 0.0 <= u.confidence <= 1.0, u
    assert u.category is None or u.category in clf.categories, u
    assert clf.classify(text) == u


def fuzz_parser(data: bytes) -> None:
    """Finding and parsing a command never fails except with the command's usage line."""
    text = text_of(data)
    assert normalise(normalise(text)) == normalise(text)
    for candidate in (text, "#" + text, "#接单 " + text, "#评价 " + text, "#转派 1 " + text):
        inv = _router.find(candidate)
        if inv is None:
            continue
        try:
            args = inv.command.parse(inv.raw_args, _names)
        except UsageError as e:
            assert e.usage == inv.command.usage and inv.command.usage in e.reply
            continue
        for arg in inv.command.args:
            if arg.kind == "number":
                assert 0 <= args.number(arg.name) < 10**9


def fuzz_mask(data: bytes) -> None:
    """Masking for a group never fails and leaves no whole mobile number."""
    text = text_of(data)
    masked = mask_for_group(text)
    assert not _PHONE.search(mask_phones(text)) or not _PHONE.search(masked)
    assert not _PHONE.search(masked), masked


TARGETS: dict[str, Callable[[bytes], None]] = {
    "classifier": fuzz_classifier,
    "parser": fuzz_parser,
    "mask": fuzz_mask,
}


def main(argv: list[str] | None = None) -> int:
    """Run the targets for longer than the tests do."""
    p = argparse.ArgumentParser(prog="python -m tests.fuzz_targets")
    p.add_argument("--examples", type=int, default=5000)
    p.add_argument("--atheris", choices=sorted(TARGETS), help="drive one target with atheris")
    args, rest = p.parse_known_args(argv)
    if args.atheris:
        import atheris  # type: ignore[import-not-found]  # optional: pip install atheris

        atheris.Setup([sys.argv[0], *[a for a in rest if a != "--"]], TARGETS[args.atheris])
        atheris.Fuzz()
        return 0
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from tests.faults_input import texts

    inputs = st.one_of(st.binary(max_size=400), texts.map(lambda t: t.encode("utf-8", "replace")))
    for name, target in TARGETS.items():
        print(f"fuzzing {name} with {args.examples} examples", flush=True)
        given(inputs)(settings(max_examples=args.examples, deadline=None, database=None)(target))()
    return 0


if __name__ == "__main__":
    sys.exit(main())
