"""SMS segment counting for GSM-7 and UCS-2 texts."""
from __future__ import annotations

import pytest

from providers.parts import count_segments, encoding, is_gsm7, transliterate, ucs2_culprits


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


EXTENSION = "^{}\\[~]|€"  # nine characters, eighteen septets


@pytest.mark.parametrize(
    ("text", "segments"),
    [
        ("a" * 153 * 2, 2),
        ("a" * (153 * 2 + 1), 3),
        ("a" * 153 * 3, 3),
        ("a" * (153 * 3 + 1), 4),
        (EXTENSION * 8 + "a" * 16, 1),  # 144 + 16 = 160 septets
        (EXTENSION * 8 + "a" * 17, 2),
        ("€ [ {", 1),
    ],
)
def test_gsm7_boundaries_and_the_extension_table(text, segments):
    assert count_segments(text) == segments
    assert encoding(text) == "GSM-7"


# Bemba and Nyanja as written with their own letters: ŋ (ng'), ŵ (Chichewa w-circumflex), ĉ.
BEMBA = "Mwaiseni! Imfula ikalokwa mailo. Mulelinda ŋombe shenu."
NYANJA = "Muli bwanji? Mvula idzagwa maŵa. Ĉonde samalani ziŵeto zanu."


@pytest.mark.parametrize(
    ("text", "culprits", "segments"),
    [
        (BEMBA, ["ŋ"], 1),
        (NYANJA, ["ŵ", "Ĉ"], 1),
        (NYANJA * 2, ["ŵ", "Ĉ"], 2),  # 122 UCS-2 units: over 70, within 2 × 67
        ("Mvula 🌧 ikalokwa", ["🌧"], 1),
        ("“Rain” – tomorrow…", ["“", "”", "–", "…"], 1),
        ("Ŋ" * 67 * 3, ["Ŋ"], 3),
        ("Ŋ" * (67 * 3 + 1), ["Ŋ"], 4),
    ],
)
def test_ucs2_text_names_the_characters_that_forced_it(text, culprits, segments):
    assert encoding(text) == "UCS-2"
    assert ucs2_culprits(text) == culprits
    assert count_segments(text) == segments


def test_accented_letters_of_the_gsm7_basic_set_stay_gsm7():
    assert encoding("Café à Lusaka: é è ù ì ò Ä Ö Ñ Ü ä ö ñ ü") == "GSM-7"
    assert ucs2_culprits("Café") == []


def test_transliteration_turns_look_alikes_into_gsm7():
    text = "“Rain” – tomorrow… it’s\u00a0near"
    assert transliterate(text) == '"Rain" - tomorrow... it\'s near'
    assert encoding(transliterate(text)) == "GSM-7"


def test_transliteration_leaves_bemba_and_nyanja_letters_alone():
    assert transliterate(NYANJA) == NYANJA
