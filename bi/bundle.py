"""Build the Superset assets bundle (a ZIP) from the YAML files under ``bi/superset/``.

The folder is Superset's export format, unzipped and kept in git: ``metadata.yaml`` (``type:
assets``), ``databases/``, ``datasets/``, ``charts/``, ``dashboards/``, linked by fixed uuids.
The one thing that depends on the machine, the database URI, is written in the YAML as
``{{ SKILLGAP_SERVING_URI }}`` and rendered here from ``$SKILLGAP_SERVING`` (read-only, as the
README says). Standard library only: runs in either virtualenv.

    python -m bi.bundle [OUT.zip]      # default data/superset/skillgap_assets.zip
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

ASSETS = Path(__file__).with_name("superset")
REPO_ROOT = Path(__file__).resolve().parents[1]
PLACEHOLDER = "{{ SKILLGAP_SERVING_URI }}"
ROOT_IN_ZIP = "skillgap_assets"


def serving_path() -> Path:
    """``$SKILLGAP_SERVING`` as an absolute path (default data/serving.duckdb in the repo)."""
    import os

    path = Path(os.environ.get("SKILLGAP_SERVING") or "data/serving.duckdb").expanduser()
    return path if path.is_absolute() else (REPO_ROOT / path).resolve()


def serving_uri(serving: Path) -> str:
    """The read-only duckdb-engine URI of the serving file (four slashes before the path)."""
    return f"duckdb:///{serving.resolve()}?access_mode=read_only"


def render(serving: Path) -> dict[str, str]:
    """Every asset file by its path in the bundle, with the database URI filled in."""
    files = {}
    for path in sorted(ASSETS.rglob("*.yaml")):
        text = path.read_text()
        if PLACEHOLDER in text:
            text = text.replace(PLACEHOLDER, serving_uri(serving))
        files[f"{ROOT_IN_ZIP}/{path.relative_to(ASSETS).as_posix()}"] = text
    return files


def build(out: Path, serving: Path | None = None) -> Path:
    """Write the bundle ZIP to ``out`` and return it."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bundle:
        for name, text in render(serving or serving_path()).items():
            bundle.writestr(name, text)
    return out


if __name__ == "__main__":
    default = REPO_ROOT / "data" / "superset" / "skillgap_assets.zip"
    print(build(Path(sys.argv[1]) if len(sys.argv) > 1 else default))
