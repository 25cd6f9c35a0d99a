"""``make bi``: set up Superset's metadata, import the dashboards, make the company tenants.

Idempotent: run it again after a refresh or a change under bi/superset/ and everything is
updated in place (the import goes through ``POST /api/v1/assets/import/``, which overwrites
databases, datasets and charts as well as dashboards; the CLI ``import-dashboards`` would leave
them stale). Runs in ``.venv-bi``.

    python -m bi.deploy [--port 8088]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from bi import tenants
from bi.app import Client, create_app, ensure_user, init_metadata
from bi.bundle import build, serving_path

ADMIN = os.environ.get("SKILLGAP_BI_ADMIN", "admin")
ADMIN_PASSWORD = os.environ.get("SKILLGAP_BI_ADMIN_PASSWORD", "admin")
DEMO_PASSWORD = os.environ.get("SKILLGAP_BI_DEMO_PASSWORD", "demo")


def import_bundle(app, bundle: Path) -> None:
    """Import (overwrite) every asset of the bundle through the REST API, as the admin."""
    client = Client(app, ADMIN, ADMIN_PASSWORD)
    with bundle.open("rb") as handle:
        response = client.post(
            "/api/v1/assets/import/",
            data={"bundle": (handle, bundle.name)},
            content_type="multipart/form-data",
        )
    if response.status_code != 200:
        raise SystemExit(f"import of {bundle} failed: {response.status_code} {response.text}")


def deploy(home: Path) -> dict:
    """Everything but serving: returns the demo user's name and company."""
    serving = serving_path()
    if not serving.exists():
        raise SystemExit(f"{serving} does not exist: run `make run` first")
    started = time.monotonic()
    app = create_app()
    init_metadata(app)
    ensure_user(app, ADMIN, ADMIN_PASSWORD, ["Admin"])
    import_bundle(app, build(home / "skillgap_assets.zip", serving))
    found = tenants.companies(serving)
    tenants.sync(app, found)
    demo_company = tenants.largest_company(serving)
    demo_user = f"demo_{demo_company.lower()}"
    tenants.add_user(app, demo_user, demo_company, DEMO_PASSWORD)
    return {
        "serving": serving,
        "companies": len(found),
        "demo_user": demo_user,
        "demo_company": demo_company,
        "seconds": time.monotonic() - started,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8088)
    args = parser.parse_args()
    from bi.superset_config import HOME

    done = deploy(HOME)
    url = f"http://127.0.0.1:{args.port}/dashboard/list/"
    print(
        f"Superset metadata in {HOME}, dashboards on {done['serving']} "
        f"({done['companies']} company tenants, {done['seconds']:.0f} s)\n"
        f"  {url}\n"
        f"  admin (every company, the item bank): {ADMIN} / {ADMIN_PASSWORD}\n"
        f"  company user ({done['demo_company']} only): {done['demo_user']} / {DEMO_PASSWORD}"
    )


if __name__ == "__main__":
    main()
