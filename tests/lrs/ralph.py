"""Ralph, a real xAPI Learning Record Store, run locally for the tests of the statement intake.

Ralph lives in its own virtualenv, ``.venv-lrs`` (``make lrs-install``), because it pins
dependencies that clash with the project's; this module only starts its programs, so it
needs nothing but the standard library. The file-system backend needs no database: the
statements go to ``<root>/store/fs_lrs.jsonl``, the credentials to ``<root>/app/auth.json``,
the server's output to ``<root>/ralph.log``. The store outlives ``stop()``: a server started
again on the same root serves the statements it held.

Ralph 5.1.0's fs backend stores a POST by creating the store file, so it refuses every POST
after the first one with a 500 ("Statements bulk indexation failed"; the log says the file
"already exists"). ``RalphServer`` therefore runs Ralph's own API app in uvicorn with that one
class attribute switched to appending (``LAUNCHER``); ``runserver=True`` starts it through
``ralph runserver`` unchanged instead, as the notes describe (with uvicorn's reloader).

``url`` is the LRS endpoint as the xAPI specification writes it, ending in ``/xAPI/``: the
resources join onto it (``urljoin(url, "statements")``), and so does the ``more`` link of a
page, which Ralph gives as an absolute path (``/xAPI/statements?...``). Without the trailing
slash, ``urljoin`` would drop ``xAPI``. docs/notes-ralph.md has the measured behaviour.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
RALPH_BIN = REPO_ROOT / ".venv-lrs" / "bin" / "ralph"
RALPH_PYTHON = RALPH_BIN.with_name("python")
XAPI_VERSION = "1.0.3"
HOST = "127.0.0.1"
HOME_PAGE = "https://lms.example"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
POST_CHUNK = 500
# Straight to 127.0.0.1, whatever proxy the environment names.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
# Run by .venv-lrs/bin/python: Ralph's API app, its fs backend appending to the store file
# instead of creating it (argv: host, port). Ralph's settings come from the environment.
LAUNCHER = """
import sys
import uvicorn
from ralph.backends.data.base import BaseOperationType
from ralph.backends.lrs.fs import FSLRSBackend
from ralph.conf import settings

FSLRSBackend.default_operation_type = BaseOperationType.APPEND
uvicorn.run("ralph.api:app", host=sys.argv[1], port=int(sys.argv[2]), log_config=settings.LOGGING)
"""


def ralph_available() -> bool:
    """True when ``make lrs-install`` has put Ralph's command line into ``.venv-lrs``."""
    return RALPH_BIN.is_file() and os.access(RALPH_BIN, os.X_OK)


def free_port() -> int:
    """A TCP port nothing listens on at the moment (the system's pick for port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


class RalphError(RuntimeError):
    """Ralph did not start, or answered a request with an error status."""

    def __init__(self, message: str, status: int | None = None, body: str = "") -> None:
        super().__init__(message if status is None else f"{message}: HTTP {status} {body}")
        self.status = status
        self.body = body


class RalphServer:
    """Ralph's Statement API with the fs backend under ``root``, one user with every scope.

    The port, picked once when not given, stays the same across ``stop()`` and ``start()``.
    ``runserver=True``: ``ralph runserver`` as it is, whose store takes one POST only.
    """

    def __init__(
        self,
        root: Path,
        port: int | None = None,
        user: str = "loader",
        password: str = "secret",
        runserver: bool = False,
    ) -> None:
        self.root = Path(root)
        self.port = port or free_port()
        self.user = user
        self.password = password
        self.runserver = runserver
        self.store = self.root / "store"
        self.app_dir = self.root / "app"
        self.log_path = self.root / "ralph.log"
        self._process: subprocess.Popen | None = None
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        self._headers = {
            "Authorization": f"Basic {token}",
            "X-Experience-API-Version": XAPI_VERSION,
        }

    @property
    def url(self) -> str:
        """The LRS endpoint, ``http://127.0.0.1:<port>/xAPI/`` (with the trailing slash)."""
        return f"http://{HOST}:{self.port}/xAPI/"

    @property
    def statements_url(self) -> str:
        return urllib.parse.urljoin(self.url, "statements")

    def _env(self) -> dict[str, str]:
        # RALPH_RUNSERVER_BACKEND is read by `ralph auth` too: it imports the API, whose
        # default backend is Elasticsearch. The store directory is what `ralph runserver
        # --fs-default-directory-path` passes on to the app.
        return {
            **os.environ,
            "RALPH_APP_DIR": str(self.app_dir),
            "RALPH_RUNSERVER_BACKEND": "fs",
            "RALPH_BACKENDS__LRS__FS__DEFAULT_DIRECTORY_PATH": str(self.store),
        }

    def _command(self) -> list[str]:
        if not self.runserver:
            return [str(RALPH_PYTHON), "-c", LAUNCHER, HOST, str(self.port)]
        args = ["runserver", "-b", "fs", "--fs-default-directory-path", str(self.store)]
        return [str(RALPH_BIN), *args, "-h", HOST, "-p", str(self.port)]

    def _write_credentials(self) -> None:
        """``ralph auth`` once per root: it refuses a user name that is already in the file."""
        auth_file = self.app_dir / "auth.json"
        if auth_file.exists() and any(
            entry.get("username") == self.user for entry in json.loads(auth_file.read_text())
        ):
            return
        args = ["auth", "-u", self.user, "-p", self.password, "-s", "all"]
        args += ["-A", self.user, HOME_PAGE, "-w"]
        done = subprocess.run(
            [str(RALPH_BIN), *args], env=self._env(), capture_output=True, text=True, timeout=120
        )
        if done.returncode != 0:
            raise RalphError(f"ralph auth failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")

    def start(self) -> RalphServer:
        """Write the credentials, start the server, wait until the Statement API answers."""
        if self._process is not None:
            return self
        self.root.mkdir(parents=True, exist_ok=True)
        self._write_credentials()
        with self.log_path.open("ab") as log:
            # A process group of its own: with `ralph runserver`, uvicorn's reloader starts
            # the server as a child, and stop() signals both. The reloader watches the
            # working directory: root.
            self._process = subprocess.Popen(
                self._command(),
                cwd=self.root,
                env=self._env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self._process.poll() is not None:
                code = self._process.returncode
                raise RalphError(f"Ralph exited with status {code}" + self._tail())
            try:
                self.get(limit=1)
                return
            except (OSError, RalphError):
                if time.monotonic() > deadline:
                    raise RalphError(
                        f"Ralph did not answer within {START_TIMEOUT:.0f} s" + self._tail()
                    ) from None
                time.sleep(0.2)

    def _tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return ""
        text = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        return f"; the end of {self.log_path}:\n" + "\n".join(text)

    def stop(self) -> None:
        """SIGTERM to the process group, SIGKILL when it is still there after 10 s."""
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=STOP_TIMEOUT)
        # after 10 s, and for a child the leader may have left behind (the reloader's server)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def __enter__(self) -> RalphServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def request(self, method: str, target: str, body: object = None) -> tuple[int, object]:
        """One authenticated request; ``target`` is joined onto ``url`` (a path or a full URL).

        Returns the status and the decoded JSON body (None when empty); raises RalphError on
        a status of 400 or more.
        """
        data = None if body is None else json.dumps(body).encode()
        headers = dict(self._headers)
        if data is not None:
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(
            urllib.parse.urljoin(self.url, target), data=data, headers=headers, method=method
        )
        try:
            with OPENER.open(req, timeout=300) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            raise RalphError(f"{method} {target}", error.code, error.read().decode()) from None
        return status, (json.loads(raw) if raw else None)

    def post(self, statements: list[dict], chunk: int = POST_CHUNK) -> list[str]:
        """POST the statements, ``chunk`` at a time; the ids Ralph stored, in order.

        Ralph assigns an id to a statement without one. A statement whose id it holds
        already, with the same content, is left out of the answer (a chunk of only such
        statements gets 204); with other content, the chunk is refused (RalphError, 409).
        """
        ids: list[str] = []
        for start in range(0, len(statements), chunk):
            _, stored = self.request("POST", "statements", statements[start : start + chunk])
            ids.extend(stored or [])
        return ids

    def get(self, **params: object) -> dict:
        """GET statements with the query parameters given; ``{"statements": [...], "more"?}``."""
        query = {k: str(v).lower() if isinstance(v, bool) else v for k, v in params.items()}
        return self.request("GET", "statements?" + urllib.parse.urlencode(query))[1]

    def get_all(self, **params: object) -> list[dict]:
        """Every statement the query gives, following ``more`` from page to page."""
        page = self.get(**params)
        statements = list(page["statements"])
        while page.get("more"):
            page = self.request("GET", page["more"])[1]
            statements.extend(page["statements"])
        return statements
