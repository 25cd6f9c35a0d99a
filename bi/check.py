"""Query every chart through Superset's REST API, as a given user, with no webserver.

For each chart: its saved query (``GET /api/v1/chart/<id>/data/``), and the same query with
``company_id`` added to its columns (``POST /api/v1/chart/data``) to see whose rows come back,
optionally filtered on ``--other`` company as well. Prints one JSON object, for the tests and for
a quick look after ``make bi``:

    .venv-bi/bin/python -m bi.check USER PASSWORD [--other COMPANY_ID] [--out FILE]
"""

from __future__ import annotations

import argparse
import json

from bi.app import Client, create_app


def _charts(app) -> list[dict]:
    with app.app_context():
        from superset import db
        from superset.models.slice import Slice

        return [
            {
                "id": s.id,
                "name": s.slice_name,
                "dataset": s.datasource.table_name,
                "has_company": any(c.column_name == "company_id" for c in s.datasource.columns),
                "query_context": json.loads(s.query_context),
            }
            for s in db.session.query(Slice).order_by(Slice.id)
        ]


def _with_company(query_context: dict, other: str | None) -> dict:
    """The saved query with company_id among its columns (and filtered on ``other``)."""
    context = json.loads(json.dumps(query_context))
    for query in context["queries"]:
        query["columns"] = [*query["columns"], "company_id"]
        query["row_limit"] = 100000
        if other:
            query["filters"] = [*query["filters"], {"col": "company_id", "op": "==", "val": other}]
    return context


def check(username: str, password: str, other: str | None) -> dict:
    app = create_app()
    charts = _charts(app)
    client = Client(app, username, password)
    out = {}
    for chart in charts:
        saved = client.get(f"/api/v1/chart/{chart['id']}/data/")
        result = {
            "dataset": chart["dataset"],
            "status": saved.status_code,
            "rows": saved.json["result"][0]["rowcount"] if saved.status_code == 200 else None,
        }
        if chart["has_company"]:
            for key, name in (("companies", None), ("rows_of_other", other)):
                if key == "rows_of_other" and not other:
                    continue
                response = client.post(
                    "/api/v1/chart/data", json=_with_company(chart["query_context"], name)
                )
                data = response.json["result"][0]["data"] if response.status_code == 200 else None
                result[f"{key}_status"] = response.status_code
                result[key] = (
                    None
                    if data is None
                    else sorted({row["company_id"] for row in data})
                    if key == "companies"
                    else len(data)
                )
        out[chart["name"]] = result
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("username")
    parser.add_argument("password")
    parser.add_argument("--other", help="another company: the query filtered on it")
    parser.add_argument("--out", help="write the JSON here (Superset prints to stdout too)")
    args = parser.parse_args()
    text = json.dumps(check(args.username, args.password, args.other), indent=1)
    if args.out:
        with open(args.out, "w") as handle:
            handle.write(text)
    else:
        print(text)


if __name__ == "__main__":
    main()
