"""The Ralph harness: statements go in and come back page by page, and outlive a restart.

docs/notes-ralph.md has the measured behaviour of Ralph's Statement API that these rely on.
"""

from __future__ import annotations

import json
import uuid

import pytest

from tests.lrs.ralph import RalphError, RalphServer

pytestmark = pytest.mark.slow


def statements(n: int) -> tuple[str, list[dict]]:
    """n small answered statements of one new learner: the learner (the ``agent`` parameter
    that selects them) and the statements. Ralph's fs backend never matches a ``verb`` or
    ``activity`` filter (docs/notes-ralph.md), so the learner is the filter."""
    actor = {
        "account": {"homePage": "https://lms.example", "name": str(uuid.uuid4())},
        "objectType": "Agent",
    }
    return json.dumps(actor), [
        {
            "actor": actor,
            "verb": {"id": "http://adlnet.gov/expapi/verbs/answered"},
            "object": {"id": f"https://lms.example/items/q{i}", "objectType": "Activity"},
            "result": {"success": i % 2 == 0},
            "timestamp": f"2026-01-01T00:00:0{i}+00:00",
        }
        for i in range(n)
    ]


def test_three_statements_come_back_two_per_page(ralph: RalphServer) -> None:
    agent, sent = statements(3)
    ids = ralph.post(sent)
    assert len(set(ids)) == 3  # Ralph gives each statement an id

    first = ralph.get(agent=agent, limit=2)
    assert [s["id"] for s in first["statements"]] == ids[:2]
    assert first["more"].startswith("/xAPI/statements?")  # a path, joined onto ralph.url
    second = ralph.request("GET", first["more"])[1]
    assert [s["id"] for s in second["statements"]] == ids[2:]
    assert "more" not in second
    assert ralph.get_all(agent=agent, limit=2) == first["statements"] + second["statements"]
    stored = second["statements"][0]
    assert stored["actor"] == sent[2]["actor"] and stored["timestamp"] == sent[2]["timestamp"]
    assert stored["stored"].endswith("+00:00")


def test_the_store_outlives_a_restart(ralph_root) -> None:
    agent, sent = statements(3)
    with RalphServer(ralph_root) as server:
        ids = server.post(sent[:1]) + server.post(sent[1:2])  # two POSTs: the store appends
        port = server.port
    with RalphServer(ralph_root, port=port) as server:
        ids += server.post(sent[2:])
        assert [s["id"] for s in server.get_all(agent=agent)] == ids


def test_plain_runserver_takes_one_post_only(ralph_root) -> None:
    """Why RalphServer does not use `ralph runserver`: Ralph 5.1.0's fs backend creates its
    store file on the first POST and fails every later one. When this test fails, Ralph
    appends: LAUNCHER in ralph.py can go."""
    _, sent = statements(2)
    with RalphServer(ralph_root, runserver=True) as server:
        server.post(sent[:1])
        with pytest.raises(RalphError) as refused:
            server.post(sent[1:])
        assert refused.value.status == 500
        assert len(server.get()["statements"]) == 1
