"""Addresses in other scripts' digits are one person with their ASCII twin: normalised before E.164 and dedup."""
from __future__ import annotations

import pytest
from herald_testing import post_json, sms
from sqlalchemy import select

from app.extensions import db
from app.models import Message
from app.services.channels.recipients import ascii_digits, classify, to_e164_digits

ASCII = "+260971234567"
FULL_WIDTH = "+２６０９７１２３４５６７"
FULL_WIDTH_PLUS = "＋２６０ ９７ １２３ ４５６７"
ARABIC_INDIC = "+٢٦٠٩٧١٢٣٤٥٦٧"
EXTENDED_ARABIC_INDIC = "+۲۶۰۹۷۱۲۳۴۵۶۷"
# Right-to-left text often wraps a number in direction marks.
WITH_MARKS = "\u200f+٢٦٠٩٧١٢٣٤٥٦٧\u200e"
NATIONAL_ARABIC = "٠٩٧١٢٣٤٥٦٧"


@pytest.mark.parametrize("raw", [FULL_WIDTH, FULL_WIDTH_PLUS, ARABIC_INDIC, EXTENDED_ARABIC_INDIC, WITH_MARKS,
                                 NATIONAL_ARABIC])
def test_other_scripts_digits_normalise_to_the_ascii_number(raw):
    assert to_e164_digits(raw, "ZM") == ASCII
    number, verdict = classify(raw, "ZM")
    assert number == ASCII and verdict.valid and verdict.carrier == "Airtel"


def test_ascii_input_takes_the_fast_path_unchanged():
    assert to_e164_digits(ASCII, "ZM") is not None
    assert ascii_digits("+26097 abc") == "+26097 abc"


@pytest.mark.parametrize("raw", ["+²⁶⁰⁹⁷¹²³⁴⁵⁶⁷x", "+260九七一二三四五六七", "+2609712345٦٧ext"])
def test_what_is_not_a_number_in_any_script_stays_unparseable(raw):
    assert classify(raw, "ZM")[0] is None


def test_one_person_written_in_three_scripts_is_one_message(client, service, app):
    payload = sms([{"to": ASCII}, {"to": FULL_WIDTH}, {"to": ARABIC_INDIC}, {"to": NATIONAL_ARABIC}])
    response = post_json(client, service, "/v1/broadcasts", payload)
    assert response.status_code == 202
    assert (response.json["accepted"], response.json["duplicates"], response.json["rejected"]) == (1, 3, 0)
    with app.app_context():
        assert list(db.session.scalars(select(Message.recipient))) == [ASCII]


def test_a_transactional_message_to_arabic_indic_digits_goes_to_the_ascii_number(client, service):
    response = post_json(client, service, "/v1/messages", {"to": ARABIC_INDIC, "body": "Code 1234"})
    assert response.status_code == 202 and response.json["to"] == ASCII
