"""One browser tab's work: its uploads (in its own temporary folder), MDM, model window, runs.

Sessions live in memory; each has a random id that is part of every URL, so two tabs are two
sessions.  Uploaded files are written only inside the session's folder, under a name made
here (never the name or path sent by the browser).
"""

from __future__ import annotations

import atexit
import re
import secrets
import shutil
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openhlm.gui.state import ModelState, run_fit

__all__ = ["Run", "Session", "SessionStore", "safe_name"]


def safe_name(name: str, default: str = "upload") -> str:
    """A file name for the session folder from a browser's file name: the last path part,
    letters, digits, ``._-`` only, never hidden."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = re.sub(r"[^A-Za-z0-9._-]", "_", base).lstrip(".")
    return base[:100] or default


@dataclass
class Run:
    """One press of "Run analysis": what was asked and what came back."""

    number: int
    equations: str
    kwargs: dict[str, Any]
    title: str
    settings: Any = None
    state: Any = None
    results: Any = None
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    done: bool = False
    started: float = field(default_factory=time.monotonic)


class Session:
    def __init__(self, sid: str, folder: Path):
        self.sid = sid
        self.folder = folder
        self.lock = threading.RLock()
        self.mdm: Any = None
        self.mdm_label = ""
        self.data_names: dict[str, str | None] = {}
        self.id_variable: str | None = None
        self.id3_variable: str | None = None  # HLM3: the level-3 ID
        self.missing = "analysis"
        self.file_type = "any"
        self.tables: dict[str, tuple[str, Any]] = {}  # role -> (file name, Table)
        self.imputed: list[Any] = []
        self.model: Any = ModelState()  # a Model3State when the MDM has three levels
        self.mdm_type = "hlm2"  # the Data view's "MDM type": "hlm2" or "hlm3"
        self.view = "data"
        self.level = 1
        self.selected = 0  # the level-2 equation the level-2 list adds to (HLM3: the pi)
        self.selected_beta = (0, 0)  # HLM3: the beta (pi, position) the level-3 list adds to
        self.mixed = False
        self.messages: list[tuple[str, str]] = []  # (kind, text) shown once
        self.eq_error: str | None = None
        self.eq_draft: str | None = None
        self.constraint_error: str | None = None
        self.glh_draft: list[str] = []
        self.glh_error: str | None = None
        self.runs: list[Run] = []
        self.output_format = "html"
        self.shown_run: int | None = None
        self.compare_text: str | None = None
        # the History's last "Compare" (runs a, b; the number of runs then)
        self.compare_pair: tuple[int, int, int] | None = None
        self.graph: dict[str, str] = {"kind": "model"}
        self.counter = 0

    # -- messages ----------------------------------------------------------------------
    def say(self, text: str, kind: str = "info") -> None:
        self.messages.append((kind, self.unpathed(text)))

    def unpathed(self, text: str) -> str:
        """``text`` with the session folder taken out of file paths (the user's file name
        stays): the page never shows the server's folders."""
        for folder in {str(self.folder), str(self.folder.resolve())}:
            text = re.sub(re.escape(folder) + r"[/\\]\d{3}[/\\]", "", text)
        return text

    def pop_messages(self) -> list[tuple[str, str]]:
        out, self.messages = self.messages, []
        return out

    # -- files -------------------------------------------------------------------------
    def new_path(self, name: str) -> Path:
        """A fresh path inside the session folder for an upload or an output."""
        self.counter += 1
        sub = self.folder / f"{self.counter:03d}"  # keeps the browser's file name (reports)
        path = (sub / safe_name(name)).resolve()
        if self.folder.resolve() not in path.parents:
            raise ValueError("refused: a file outside the session folder")
        sub.mkdir()
        return path

    # -- variables ---------------------------------------------------------------------
    @property
    def level1_variables(self) -> tuple[str, ...]:
        return tuple(self.mdm.level1_variables) if self.mdm is not None else ()

    @property
    def level2_variables(self) -> tuple[str, ...]:
        return tuple(self.mdm.level2_variables) if self.mdm is not None else ()

    @property
    def level3_variables(self) -> tuple[str, ...]:
        return tuple(getattr(self.mdm, "level3_variables", ())) if self.mdm is not None else ()

    @property
    def three_level(self) -> bool:
        """Whether the session's MDM (and so its model window) has three levels."""
        from openhlm.data.mdm3 import MDM3

        return isinstance(self.mdm, MDM3)

    def set_mdm(self, mdm: Any, label: str) -> None:
        """Use ``mdm``; a new window when the number of levels changes (HLM2 <-> HLM3)."""
        from openhlm.gui.state3 import Model3State

        self.mdm, self.mdm_label = mdm, label
        self.mdm_type = "hlm3" if self.three_level else "hlm2"
        if self.three_level != isinstance(self.model, Model3State):
            self.model = Model3State() if self.three_level else ModelState()
            self.level, self.selected, self.selected_beta = 1, 0, (0, 0)
            self.eq_draft = self.eq_error = None
            self.glh_draft, self.glh_error = [], None

    def data_for_fit(self) -> Any:
        if self.model.settings.imputation == "files":
            if not self.imputed:
                from openhlm.errors import SpecError

                raise SpecError("multiple imputation: add the level-1 files of the other "
                                "completed data sets in the Data view first")
            return [self.mdm, *self.imputed]
        return self.mdm

    # -- running -----------------------------------------------------------------------
    def running(self) -> Run | None:
        for run in self.runs:
            if not run.done:
                return run
        return None

    def start_run(self) -> Run:
        """Fit the window's model in a background thread; the page polls :attr:`Run.done`."""
        import copy

        model = copy.deepcopy(self.model)
        kwargs = model.fit_kwargs(self.runs)  # errors in the settings show up before running
        data = self.data_for_fit()
        run = Run(len(self.runs) + 1, model.equations_text(), kwargs,
                  model.settings.title, settings=model.settings, state=model)
        self.runs.append(run)
        self.shown_run = run.number
        runs = list(self.runs)

        def work() -> None:
            start = time.monotonic()
            try:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    results = run_fit(model, data, runs)
                run.results = results
                run.warnings = [" ".join(str(w.message).split()) for w in caught]
            except Exception as exc:  # noqa: BLE001 - shown in the page; the app keeps working
                run.error = self.unpathed(str(exc) if _is_user_error(exc) else
                                          f"{type(exc).__name__}: {exc}")
            finally:
                run.seconds = time.monotonic() - start
                run.done = True

        threading.Thread(target=work, name=f"openhlm-fit-{self.sid[:6]}-{run.number}",
                         daemon=True).start()
        return run

    def run(self, number: int) -> Run | None:
        for run in self.runs:
            if run.number == number:
                return run
        return None


def _is_user_error(exc: BaseException) -> bool:
    from openhlm.errors import OpenHLMError

    return isinstance(exc, OpenHLMError)


class SessionStore:
    """The sessions of one server, each with a folder in one temporary root."""

    def __init__(self, max_sessions: int = 64):
        self.root = Path(tempfile.mkdtemp(prefix="openhlm-gui-"))
        atexit.register(self.close)  # also when the server did not shut down cleanly
        self.sessions: dict[str, Session] = {}
        self.max_sessions = max_sessions
        self.lock = threading.Lock()

    def new(self) -> Session:
        with self.lock:
            if len(self.sessions) >= self.max_sessions:  # forget the oldest
                oldest = next(iter(self.sessions))
                self.drop(oldest)
            sid = secrets.token_urlsafe(16)
            folder = self.root / sid
            folder.mkdir()
            session = Session(sid, folder)
            self.sessions[sid] = session
            return session

    def get(self, sid: str) -> Session | None:
        return self.sessions.get(sid)

    def drop(self, sid: str) -> None:
        session = self.sessions.pop(sid, None)
        if session is not None:
            shutil.rmtree(session.folder, ignore_errors=True)

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
