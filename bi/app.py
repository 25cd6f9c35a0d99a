"""The Superset app for skillgap, in process: metadata setup and an API client without a server.

Runs in Superset's own virtualenv (``.venv-bi``), never in the main one. ``create_app()`` reads
``bi/superset_config.py``; ``client()`` logs in through the REST API of a Flask test client, so
imports, checks and tests need no running webserver.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

CONFIG = Path(__file__).with_name("superset_config.py")


def create_app():
    """The Superset Flask app with skillgap's configuration."""
    os.environ["SUPERSET_CONFIG_PATH"] = str(CONFIG)
    from superset.app import create_app as superset_app

    return superset_app()


def init_metadata(app) -> None:
    """``superset db upgrade`` and ``superset init``: schema migrations, permissions, roles."""
    from flask_migrate import upgrade

    with app.app_context():
        upgrade()
        from superset import appbuilder, db, security_manager

        appbuilder.add_permissions(update_perms=True)
        security_manager.sync_role_definitions()
        db.session.commit()


def ensure_user(app, username: str, password: str, roles: list[str]) -> None:
    """Create the user with these roles, or reset an existing one's roles and password."""
    with app.app_context():
        from superset import db, security_manager

        found = [security_manager.find_role(name) for name in roles]
        missing = [name for name, role in zip(roles, found, strict=True) if role is None]
        if missing:
            raise SystemExit(f"no such role: {', '.join(missing)}")
        user = security_manager.find_user(username=username)
        if user is None:
            security_manager.add_user(
                username, username, "skillgap", f"{username}@example.invalid", found, password
            )
        else:
            user.roles = found
            security_manager.reset_password(user.id, password)
        db.session.commit()


class Client:
    """A logged-in REST client on the app's test client (JWT plus the CSRF token for writes)."""

    def __init__(self, app, username: str, password: str):
        self.http = app.test_client()
        login = self.http.post(
            "/api/v1/security/login",
            json={"username": username, "password": password, "provider": "db", "refresh": False},
        )
        if login.status_code != 200:
            raise RuntimeError(f"login as {username} failed: {login.status_code} {login.text}")
        self.headers = {"Authorization": f"Bearer {login.json['access_token']}"}
        csrf = self.http.get("/api/v1/security/csrf_token/", headers=self.headers)
        self.headers["X-CSRFToken"] = csrf.json["result"]
        self.headers["Referer"] = "http://localhost/"

    def get(self, url: str) -> Any:
        return self.http.get(url, headers=self.headers)

    def post(self, url: str, **kwargs: Any) -> Any:
        return self.http.post(url, headers=self.headers, **kwargs)
