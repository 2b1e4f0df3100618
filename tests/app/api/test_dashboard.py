"""GET /dashboard: the page, its script and stylesheet are served, and the script's DOM hooks exist."""
from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest


class PageParser(HTMLParser):
    """Collects element ids and every src/href of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        """Note the id and any linked resource of one tag."""
        values = dict(attrs)
        if values.get("id"):
            self.ids.add(values["id"])
        self.links += [value for name, value in attrs if name in ("src", "href") and value]


@pytest.fixture
def page(client) -> PageParser:
    """The served page, parsed."""
    response = client.get("/dashboard")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    parser = PageParser()
    parser.feed(response.get_data(as_text=True))
    return parser


@pytest.fixture
def script(client) -> str:
    """The page's script as served."""
    response = client.get("/static/dashboard.js")
    assert response.status_code == 200 and "javascript" in response.mimetype
    return response.get_data(as_text=True)


def test_every_element_the_script_looks_up_is_on_the_page(page, script):
    looked_up = set(re.findall(r'\$\("([\w-]+)"\)', script))
    actions = re.search(r"const ALLOWED = \{([^}]*)\}", script).group(1)
    looked_up |= {f"btn-{action}" for action in re.findall(r"(\w+):", actions)}
    assert {"broadcast-list", "progress", "rate-chart", "audit-rows", "dead-letter-rows", "quota-list",
            "report-link", "btn-pause", "btn-resume", "btn-cancel", "key-form"} <= looked_up
    assert looked_up <= page.ids, looked_up - page.ids


def test_page_loads_only_local_resources(page, client):
    assert "/static/dashboard.js" in page.links and "/static/dashboard.css" in page.links
    for link in page.links:
        assert link.startswith(("/", "#", "data:")), link
        if link.startswith("/static/"):
            assert client.get(link).status_code == 200


def test_script_writes_text_never_markup(script):
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script
    assert "textContent" in script and "sessionStorage" in script and "Bearer" in script


def test_script_calls_the_documented_endpoints(script, client):
    spec_paths = client.get("/openapi.json").json["paths"]
    for path in ("/v1/broadcasts", "/v1/broadcasts/{broadcast_id}", "/v1/broadcasts/{broadcast_id}/audit",
                 "/v1/broadcasts/{broadcast_id}/report.csv", "/v1/dead-letters", "/v1/quotas"):
        assert path in spec_paths
    for fragment in ("/v1/broadcasts?", "/v1/broadcasts/${", "/audit", "/report.csv", "/v1/dead-letters?",
                     "/v1/dead-letters/${", "/v1/quotas"):
        assert fragment in script, fragment


def test_page_is_served_without_a_key_with_a_strict_policy(client):
    response = client.get("/dashboard")
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "connect-src 'self'" in policy and "unsafe-inline" not in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert client.get("/dashboard", headers={"Authorization": "Bearer hk_nope"}).status_code == 200


def test_the_api_the_page_calls_still_needs_the_key(client, service):
    assert client.get("/v1/broadcasts").status_code == 401
    assert client.get("/v1/broadcasts", headers=service.headers).status_code == 200
