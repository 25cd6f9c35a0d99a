"""One Superset tenant per company: a role with row-level security, and users in it.

For every company in the serving file, ``sync`` makes the role ``company <company_id>``:

- ``datasource_access`` on every company-facing dataset (every dataset with a ``company_id``
  column) and on the shared ``refresh_info`` dataset (publish times only, no company data);
- a row-level-security rule ``company_id = '<company_id>'`` on every company-facing dataset.

Datasets without ``company_id`` (the item bank) are not granted: they are for admins only.
Users of a company get the roles ``Gamma`` and ``company <company_id>``. SQL Lab applies the
rules only with ``RLS_IN_SQLLAB = True`` (bi/superset_config.py); company users get no SQL Lab
role here anyway.

    python -m bi.tenants sync
    python -m bi.tenants add-user USERNAME COMPANY_ID [PASSWORD]
"""

from __future__ import annotations

import sys
from pathlib import Path

COMPANY_COLUMN = "company_id"
SHARED_DATASETS = ("refresh_info",)
BASE_ROLE = "Gamma"


def role_name(company_id: str) -> str:
    return f"company {company_id}"


def companies(serving: Path) -> list[str]:
    """Every company with a row in the company-facing marts of the serving file."""
    import duckdb

    con = duckdb.connect(str(serving), read_only=True)
    try:
        rows = con.execute(
            "select company_id from marts.learner_skill_scores union "
            "select company_id from marts.learning_activity order by 1"
        ).fetchall()
    finally:
        con.close()
    return [row[0] for row in rows]


def largest_company(serving: Path) -> str:
    """The company with the most reportable learner scores: the demo user's, so that its
    dashboards show figures rather than mostly withheld rows."""
    import duckdb

    con = duckdb.connect(str(serving), read_only=True)
    try:
        return con.execute(
            "select company_id from marts.learner_skill_scores where is_reportable "
            "group by company_id order by count(*) desc, company_id limit 1"
        ).fetchone()[0]
    finally:
        con.close()


def _datasets():
    """(company-facing, shared) datasets of the metadata database."""
    from superset import db
    from superset.connectors.sqla.models import SqlaTable

    tables = db.session.query(SqlaTable).all()
    facing = [t for t in tables if any(c.column_name == COMPANY_COLUMN for c in t.columns)]
    shared = [t for t in tables if t.table_name in SHARED_DATASETS]
    return facing, shared


def _sync_company(company_id: str, facing, shared) -> None:
    from superset import db, security_manager
    from superset.connectors.sqla.models import RowLevelSecurityFilter
    from superset.utils.core import RowLevelSecurityFilterType

    name = role_name(company_id)
    role = security_manager.find_role(name) or security_manager.add_role(name)
    role.permissions = [
        security_manager.add_permission_view_menu("datasource_access", table.perm)
        for table in facing + shared
    ]
    rule = db.session.query(RowLevelSecurityFilter).filter_by(name=name).one_or_none()
    if rule is None:
        rule = RowLevelSecurityFilter(name=name)
        db.session.add(rule)
    quoted = company_id.replace("'", "''")
    rule.description = f"{company_id} sees only its own rows"
    rule.filter_type = RowLevelSecurityFilterType.REGULAR
    rule.clause = f"{COMPANY_COLUMN} = '{quoted}'"
    rule.tables = list(facing)
    rule.roles = [role]


def sync(app, company_ids: list[str]) -> int:
    """Create or update the role and rule of each company; return how many datasets they cover."""
    with app.app_context():
        from superset import db

        facing, shared = _datasets()
        if not facing:
            raise SystemExit("no dataset has a company_id column: import the bundle first")
        for company_id in company_ids:
            _sync_company(company_id, facing, shared)
        db.session.commit()
    return len(facing)


def add_user(app, username: str, company_id: str, password: str) -> None:
    """A user who sees the dashboards with only ``company_id``'s rows."""
    from bi.app import ensure_user

    ensure_user(app, username, password, [BASE_ROLE, role_name(company_id)])


def main(argv: list[str]) -> None:
    from bi.app import create_app
    from bi.bundle import serving_path

    app = create_app()
    if argv[:1] == ["sync"]:
        found = companies(serving_path())
        n = sync(app, found)
        print(f"{len(found)} company roles, row-level security on {n} datasets each")
    elif argv[:1] == ["add-user"] and len(argv) in (3, 4):
        password = argv[3] if len(argv) == 4 else argv[1]
        add_user(app, argv[1], argv[2], password)
        print(f"user {argv[1]} sees company {argv[2]} (role {role_name(argv[2])!r})")
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
