"""Template parsing, rendering, filters and refusals."""
from __future__ import annotations

import time

import pytest

from app.services.content.templates import TemplateError, compile_template


def render(body, values=None, channel="sms"):
    """Compile and render in one go."""
    return compile_template(body, channel).render(values or {})


def test_plain_placeholders():
    assert render("Hello ((name)), ((n)) bags", {"name": "Ada", "n": 3}) == "Hello Ada, 3 bags"
    assert compile_template("Hello ((name))").missing({}) == ["name"]


def test_conditional_text_only_when_the_value_is_present_and_non_empty():
    body = "Rain tomorrow.((district?? Move cattle to high ground.))"
    assert render(body, {"district": "Eastern"}) == "Rain tomorrow. Move cattle to high ground."
    assert render(body, {"district": ""}) == "Rain tomorrow."
    assert render(body, {}) == "Rain tomorrow."
    assert compile_template(body).missing({}) == []


@pytest.mark.parametrize(
    ("body", "values", "text"),
    [
        ("Hi ((name|default:friend))", {}, "Hi friend"),
        ("Hi ((name|default:friend))", {"name": "Ada"}, "Hi Ada"),
        ("((name|upper))", {"name": "Ada"}, "ADA"),
        ("((name|lower))", {"name": "ADA"}, "ada"),
        ("((name|truncate:8))", {"name": "Chipata District"}, "Chipa..."),
        ("((name|truncate:8))", {"name": "Chipata"}, "Chipata"),
        ("((name|sub:0,7))", {"name": "Chipata District"}, "Chipata..."),
        ("((name|sub:0,7))", {"name": "Chipata"}, "Chipata"),
        ("((name|default:friend|upper))", {}, "FRIEND"),
        ("((name|lower|truncate:4))", {"name": "MONGU"}, "m..."),
    ],
)
def test_filters(body, values, text):
    assert render(body, values) == text


def test_the_ellipsis_is_three_dots_on_sms_and_a_real_one_elsewhere():
    assert render("((n|truncate:5))", {"n": "Kasama"}, "sms") == "Ka..."
    assert render("((n|truncate:5))", {"n": "Kasama"}, "email") == "Kasa…"


def test_values_are_html_escaped_in_email_only():
    values = {"name": "<b>Ada & co</b>"}
    assert render("<p>((name))</p>", values, "email") == "<p>&lt;b&gt;Ada &amp; co&lt;/b&gt;</p>"
    assert render("((name))", values, "sms") == "<b>Ada & co</b>"


@pytest.mark.parametrize(
    ("body", "position", "words"),
    [
        ("Hello ((name", 6, "never closed"),
        ("Hello name)) and ((x))", 10, "closes no placeholder"),
        ("Hi ((name|shout))", 3, "unknown"),
        ("Hi ((name|truncate:x))", 3, "whole number"),
        ("Hi ((name|sub:3))", 3, "two numbers"),
        ("Hi ((na((me))", 7, "opened inside"),
        ("Hi (( ))", 3, "bad placeholder name"),
    ],
)
def test_broken_templates_are_refused_with_the_position(body, position, words):
    with pytest.raises(TemplateError) as caught:
        compile_template(body)
    assert caught.value.details["position"] == position
    assert words in caught.value.message


def test_rendered_length_matches_render():
    template = compile_template("Dear ((name|upper)), ((x??yes))")
    assert template.rendered_length({"name": "ab", "x": 1}) == len("Dear AB, yes")


def _seconds(template, rows) -> float:
    """Time to render every row once."""
    started = time.perf_counter()
    for row in rows:
        template.render(row)
    return time.perf_counter() - started


def test_filters_cost_little_more_than_plain_placeholders():
    # Relative, not absolute: the shared test machine's load swings absolute timings tenfold.
    rows = [{"name": f"F{i}", "bags": i, "depot": "chipata", "d": i % 2} for i in range(50_000)]
    plain = _seconds(compile_template("Dear ((name)), ((bags)) bags at ((depot)).((d))"), rows)
    rich = _seconds(compile_template("Dear ((name|default:farmer)), ((bags)) bags at ((depot|upper)).((d?? ID))"), rows)
    assert rich < plain * 2.5
