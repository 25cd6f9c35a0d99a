"""Superset's configuration for skillgap (``SUPERSET_CONFIG_PATH`` points here).

Everything Superset keeps lives under ``$SKILLGAP_SUPERSET_HOME`` (default ``data/superset``):
the SQLite metadata database and the secret key, which is made on first use and kept there, so
that sessions and encrypted fields survive a restart. Local use on 127.0.0.1: no Talisman, an
in-process cache.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
HOME = Path(os.environ.get("SKILLGAP_SUPERSET_HOME") or REPO_ROOT / "data" / "superset")
if not HOME.is_absolute():
    HOME = (REPO_ROOT / HOME).resolve()
HOME.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    path = HOME / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
SQLALCHEMY_DATABASE_URI = f"sqlite:///{HOME / 'superset.db'}"
TALISMAN_ENABLED = False
# In-process caches: chart data is cached for 5 minutes, so a refresh shows within 5 minutes.
CACHE_CONFIG = {"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": 300}
DATA_CACHE_CONFIG = {"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": 300}
FILTER_STATE_CACHE_CONFIG = {"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": 300}
EXPLORE_FORM_DATA_CACHE_CONFIG = {"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": 300}
FEATURE_FLAGS = {
    # Company users are filtered by row-level security (bi/tenants.py). Without this flag SQL Lab
    # runs their queries without the rules and shows every company's rows. (A feature flag in
    # Superset 6; older releases read a top-level RLS_IN_SQLLAB setting, kept below as well.)
    "RLS_IN_SQLLAB": True,
    # Render every chart of a dashboard at once, not when scrolled into view: the browser test
    # and the screenshots see them all.
    "DASHBOARD_VIRTUALIZATION": False,
}
RLS_IN_SQLLAB = True
# The company score chart (bi/superset/charts/bench_scores.yaml) is a Handlebars template that
# draws each interval with positioned <div>s: the HTML sanitizer keeps their inline styles.
HTML_SANITIZATION_SCHEMA_EXTENSIONS = {
    "attributes": {tag: ["style", "title"] for tag in ("div", "span", "table", "tr", "th", "td")}
}
