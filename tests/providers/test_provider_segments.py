"""SMS segment counting for GSM-7 and UCS-2 texts."""
from __future__ import annotations

import pytest

from providers.segments import count_segments, is_gsm7


@pytest.mark.parametrize(
    ("text", "segments"),
    [
        ("", 1),
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("{" * 80, 1),  # extension characters cost two septets each
        ("{" * 81, 2),
        ("€" + "a" * 158, 1),
        ("€" + "a" * 159, 2),
        ("ж" * 70, 1),
        ("ж" * 71, 2),
        ("ж" * 134, 2),
        ("ж" * 135, 3),
        ("a" * 159 + "ж", 3),  # one non-GSM character turns the whole text UCS-2
        ("😀" * 35, 1),  # astral characters take two UTF-16 units
        ("😀" * 36, 2),
    ],
)
def test_count_segments(text, segments):
    assert count_segments(text) == segments


def test_an_escape_pair_is_never_split_across_parts():
    # 306 septets fit two 153-septet parts only if the euro's escape pair could be split.
    assert count_segments("a" * 152 + "€" + "a" * 152) == 3


def test_a_surrogate_pair_is_never_split_across_parts():
    # 134 UTF-16 units fit two 67-unit parts only if the emoji could be split.
    assert count_segments("ж" * 66 + "😀" + "ж" * 66) == 3


def test_gsm7_detection():
    assert is_gsm7("Hello @ £5 {ok} €")
    assert not is_gsm7("Muli bwanji ✓")
    assert not is_gsm7("tab\there")
