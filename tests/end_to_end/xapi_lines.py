"""xAPI statements written by hand, shaped as ``python -m sample_data --format xapi`` writes
them (sample_data/statements.py): an attempt (verb ``evaluated`` on an item of a course), a
registration or completion of a course, and a statement about a statement (object a
``StatementRef``): ``voided`` takes its target back, any other verb voids nothing
(docs/landing-contract.md, statements)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from sample_data.statements import (
    COMPLETED,
    COURSE,
    EVALUATED,
    HOME,
    INTERACTION,
    NAMESPACE,
    REGISTERED,
)

VOIDED = "http://adlnet.gov/expapi/verbs/voided"
COMMENTED = "http://adlnet.gov/expapi/verbs/commented"


def statement_id(name: str) -> str:
    """A deterministic statement id for ``name``, in the sample's uuid5 namespace."""
    return str(uuid.uuid5(NAMESPACE, json.dumps(["test", name])))


def actor(learner: str) -> dict:
    return {"objectType": "Agent", "account": {"homePage": HOME, "name": learner}}


def course_activity(course: str) -> dict:
    return {
        "objectType": "Activity",
        "id": f"{HOME}/courses/{course}",
        "definition": {"type": COURSE},
    }


def attempt(name: str, learner: str, item: str, course: str, at: str, raw: float) -> dict:
    """An ``evaluated`` statement: ``learner`` scored ``raw`` of 1 on ``item`` of ``course``."""
    return {
        "id": statement_id(name),
        "actor": actor(learner),
        "verb": {"id": EVALUATED, "display": {"en": "evaluated"}},
        "object": {
            "objectType": "Activity",
            "id": f"{HOME}/items/{item}",
            "definition": {"type": INTERACTION},
        },
        "result": {"score": {"raw": raw, "min": 0, "max": 1}},
        "context": {"contextActivities": {"parent": [course_activity(course)]}},
        "timestamp": at,
    }


def registered(name: str, learner: str, course: str, at: str) -> dict:
    """A ``registered`` statement: ``learner`` enrolled in ``course``."""
    return {
        "id": statement_id(name),
        "actor": actor(learner),
        "verb": {"id": REGISTERED},
        "object": course_activity(course),
        "timestamp": at,
    }


def completed(name: str, learner: str, course: str, at: str, grade: float) -> dict:
    """A ``completed`` statement: ``learner`` passed ``course`` with ``grade`` of 1."""
    return {
        "id": statement_id(name),
        "actor": actor(learner),
        "verb": {"id": COMPLETED},
        "object": course_activity(course),
        "timestamp": at,
        "result": {"completion": True, "score": {"raw": grade, "min": 0, "max": 1}},
    }


def statement_ref(
    name: str, learner: str, target: str, verb: str = VOIDED, at: str | None = None
) -> dict:
    """A statement whose object is the statement ``target`` (an id); ``verb`` voided voids it.
    Without ``at`` it has no timestamp (a voiding statement needs none)."""
    statement = {
        "id": statement_id(name),
        "actor": actor(learner),
        "verb": {"id": verb, "display": {"en-US": verb.rsplit("/", 1)[-1]}},
        "object": {"objectType": "StatementRef", "id": target},
    }
    if at is not None:
        statement["timestamp"] = at
    return statement


def write_jsonl(path: Path, statements: list[dict]) -> Path:
    """One compact statement per line, as the sample's ``.jsonl`` files."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(s, separators=(",", ":")) + "\n" for s in statements)
    path.write_text(text, encoding="utf-8")
    return path
