"""The web app (Starlette): routes, the click handlers, uploads and downloads.

Every click posts to ``/s/<session>/do/<action>`` and gets back the new ``#main``; uploads go
to ``/s/<session>/upload/<what>``; files come from ``/s/<session>/run/<n>/<file>`` and
``/s/<session>/graph.png``.  A session id is a random token: two tabs, two sessions.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from openhlm.errors import OpenHLMError, SpecError
from openhlm.gui import views
from openhlm.gui.graphs import draw_graph, graph_png
from openhlm.gui.session import Session, SessionStore, safe_name
from openhlm.gui.state import HGLM_METHODS, SAMPLING, restore_from_file

__all__ = ["DEFAULT_MAX_UPLOAD", "create_app"]

STATIC = Path(__file__).with_name("static")
DEFAULT_MAX_UPLOAD = 200 * 1024 * 1024  # bytes per upload request
TOKEN_COOKIE = "openhlm_token"


class TooLarge(Exception):
    pass


def create_app(*, token: str | None = None, max_upload: int = DEFAULT_MAX_UPLOAD) -> Starlette:
    """The GUI app.  ``token``: required in the URL (``?token=...``, then a cookie) when set."""
    store = SessionStore()

    def session_of(request: Request) -> Session:
        session = store.get(request.path_params["sid"])
        if session is None:
            raise KeyError("session")
        return session

    async def home(request: Request) -> Response:
        session = store.new()
        return RedirectResponse(f"/s/{session.sid}/", status_code=303)

    async def show(request: Request) -> Response:
        try:
            s = session_of(request)
        except KeyError:
            return RedirectResponse("/", status_code=303)
        return HTMLResponse(views.page(s))

    async def view(request: Request) -> Response:
        s = session_of(request)
        return HTMLResponse(views.main(s))

    async def do(request: Request) -> Response:
        s = session_of(request)
        action = request.path_params["action"]
        form = await request.form()
        handler = ACTIONS.get(action)
        if handler is None:
            return PlainTextResponse("unknown action", status_code=404)
        with s.lock:
            try:
                handler(s, form)
            except OpenHLMError as exc:
                s.say(str(exc), "error")
            except (ValueError, KeyError, IndexError) as exc:
                s.say(f"{type(exc).__name__}: {exc}", "error")
            return HTMLResponse(views.main(s))

    async def upload(request: Request) -> Response:
        s = session_of(request)
        what = request.path_params["what"]
        size = int(request.headers.get("content-length") or 0)
        if size > max_upload:
            s.say(f"the upload is {size / 1e6:.1f} MB; the limit is {max_upload / 1e6:.0f} MB "
                  "(openhlm gui --max-upload-mb)", "error")
            return HTMLResponse(views.main(s))
        try:
            form = await read_upload(request, max_upload)
        except (TooLarge, MultiPartException) as exc:
            s.say(str(exc), "error")
            return HTMLResponse(views.main(s))
        try:
            with s.lock:
                try:
                    UPLOADS[what](s, form, max_upload)
                except TooLarge as exc:
                    s.say(str(exc), "error")
                except OpenHLMError as exc:
                    s.say(str(exc), "error")
                except (ValueError, KeyError, OSError) as exc:
                    s.say(f"{type(exc).__name__}: {exc}", "error")
                return HTMLResponse(views.main(s))
        finally:
            await form.close()

    async def status(request: Request) -> Response:
        s = session_of(request)
        running = s.running()
        if running is not None:
            return HTMLResponse(views.progress(s, running))
        return HTMLResponse(f'<div id="done" hx-get="{views.url(s, "view")}" hx-trigger="load" '
                            'hx-target="#main"></div>')

    async def run_file(request: Request) -> Response:
        s = session_of(request)
        run = s.run(int(request.path_params["n"]))
        if run is None or run.results is None:
            return PlainTextResponse("no such run", status_code=404)
        try:
            return run_download(s, run, request.path_params["name"])
        except OpenHLMError as exc:
            return PlainTextResponse(str(exc), status_code=400)

    async def mdm_file(request: Request) -> Response:
        s = session_of(request)
        if s.mdm is None:
            return PlainTextResponse("no MDM", status_code=404)
        path = s.new_path("model.mdmz")
        s.mdm.save(path)
        return Response(path.read_bytes(), media_type="application/octet-stream",
                        headers=_attachment("model.mdmz"))

    async def graph(request: Request) -> Response:
        s = session_of(request)
        fmt = request.path_params["fmt"]
        query = dict(request.query_params)
        try:
            data = graph_png(s, query) if fmt == "png" else draw_graph(s, query, fmt)
        except (OpenHLMError, ValueError, KeyError) as exc:
            return PlainTextResponse(str(exc), status_code=400)
        media = "image/png" if fmt == "png" else "image/svg+xml"
        return Response(data, media_type=media)

    routes = [
        Route("/", home),
        Route("/s/{sid}/", show),
        Route("/s/{sid}/view", view),
        Route("/s/{sid}/do/{action}", do, methods=["POST"]),
        Route("/s/{sid}/upload/{what}", upload, methods=["POST"]),
        Route("/s/{sid}/status", status),
        Route("/s/{sid}/run/{n:int}/{name}", run_file),
        Route("/s/{sid}/download/model.mdmz", mdm_file),
        Route("/s/{sid}/graph.{fmt:str}", graph),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        store.close()

    async def guard(request: Request, call_next: Callable[[Request], Awaitable[Response]]
                    ) -> Response:
        if token is not None:
            given = request.query_params.get("token") or request.cookies.get(TOKEN_COOKIE)
            if not given or not secrets.compare_digest(given, token):
                return PlainTextResponse("openhlm gui: open the address with its ?token=...",
                                         status_code=403)
        if request.url.path.startswith("/s/"):
            sid = request.url.path.split("/")[2]
            if store.get(sid) is None and request.url.path != f"/s/{sid}/":
                return PlainTextResponse("this session has ended: open the start page again",
                                         status_code=410)
        response = await call_next(request)
        if token is not None:
            response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict")
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    app = Starlette(routes=routes, lifespan=lifespan,
                    middleware=[Middleware(BaseHTTPMiddleware, dispatch=guard)])
    app.state.store = store
    app.state.token = token
    return app


async def _limited(stream: AsyncIterator[bytes], limit: int) -> AsyncIterator[bytes]:
    total = 0
    async for chunk in stream:
        total += len(chunk)
        if total > limit:
            raise TooLarge(f"the upload is larger than the limit ({limit / 1e6:.0f} MB; "
                           "openhlm gui --max-upload-mb)")
        yield chunk


async def read_upload(request: Request, limit: int) -> FormData:
    """The multipart form of an upload, held in memory (at most ``limit`` bytes in all), so
    that nothing is written outside the session folder (Starlette would spool large files to
    the system's temporary folder)."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise MultiPartException("an upload must be sent as multipart/form-data")
    stream = _limited(request.stream(), limit)
    parser = MultiPartParser(request.headers, stream,  # type: ignore[arg-type]
                             max_files=200, max_fields=1000)
    parser.spool_max_size = parser.max_file_size = limit + 1  # type: ignore[attr-defined]
    return await parser.parse()


def _attachment(name: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{safe_name(name)}"'}


# -------------------------------------------------------------------------------- actions
Form = FormData


def _get(form: Form, key: str, default: str = "") -> str:
    value = form.get(key)
    return value if isinstance(value, str) else default


def a_view(s: Session, form: Form) -> None:
    name = _get(form, "name")
    if name in dict(views.VIEWS):
        s.view = name


def a_bundled(s: Session, form: Form) -> None:
    import openhlm

    s.set_mdm(openhlm.datasets.hsb(), "High School and Beyond (bundled hsb1.sav, hsb2.sav)")
    s.data_names = {"level1": "hsb1.sav", "level2": "hsb2.sav"}
    s.id_variable = "id"
    s.tables = {}
    s.imputed = []
    s.say("Opened the bundled High School and Beyond MDM.")


def a_mdm_type(s: Session, form: Form) -> None:
    s.mdm_type = "hlm3" if _get(form, "mdm_type") == "hlm3" else "hlm2"


def a_make_mdm(s: Session, form: Form) -> None:
    from openhlm.data import build_mdm

    if "level1" not in s.tables:
        raise ValueError("read a level-1 file first")
    if s.mdm_type == "hlm3":
        make_mdm3(s, form)
        return
    ident = _get(form, "id")
    s.id_variable = ident
    s.missing = _get(form, "missing", "analysis")
    name1, t1 = s.tables["level1"]
    level2 = s.tables.get("level2")
    vars1 = [v for v in form.getlist("vars1") if isinstance(v, str)]
    vars2 = [v for v in form.getlist("vars2") if isinstance(v, str)]
    mdm = build_mdm(t1, level2[1] if level2 else None, id=ident,
                    level1_variables=vars1 or None,
                    level2_variables=(vars2 or None) if level2 else None,
                    missing=s.missing)  # type: ignore[arg-type]
    s.set_mdm(mdm, name1 + (f" + {level2[0]}" if level2 else ""))
    s.data_names = {"level1": name1, "level2": level2[0] if level2 else None}
    s.imputed = []
    s.say(f"MDM made: {mdm.n_level1} level-1 and {mdm.n_level2} level-2 units.")


def make_mdm3(s: Session, form: Form) -> None:
    """HLM3's MDM: the level-1, level-2 and level-3 files (or one file) and the two IDs."""
    from openhlm.data import build_mdm

    id2, id3 = _get(form, "id"), _get(form, "id3")
    if not id2 or not id3:
        raise ValueError("choose the level-2 ID and the level-3 ID")
    s.id_variable = id2
    s.id3_variable = id3
    s.missing = _get(form, "missing", "analysis")
    name1, t1 = s.tables["level1"]
    level2, level3 = s.tables.get("level2"), s.tables.get("level3")
    chosen = {level: [v for v in form.getlist(f"vars{level}") if isinstance(v, str)] or None
              for level in (1, 2, 3)}
    mdm = build_mdm(t1, level2[1] if level2 else None, level3[1] if level3 else None,
                    id=(id2, id3), level1_variables=chosen[1], level2_variables=chosen[2],
                    level3_variables=chosen[3], missing=s.missing)  # type: ignore[arg-type]
    names = [name1] + [t[0] for t in (level2, level3) if t]
    s.set_mdm(mdm, " + ".join(names))
    s.data_names = {"level1": name1, "level2": level2[0] if level2 else None,
                    "level3": level3[0] if level3 else None}
    s.imputed = []
    s.say(f"MDM made: {mdm.n_level1} level-1, {mdm.n_level2} level-2 and {mdm.n_level3} "
          "level-3 units.")


def a_file_type(s: Session, form: Form) -> None:
    kind = _get(form, "file_type", "any")
    s.file_type = kind if kind in views.FILE_TYPES else "any"


def a_clear_imputed(s: Session, form: Form) -> None:
    s.imputed = []


def a_level(s: Session, form: Form) -> None:
    level = _get(form, "level")
    s.level = 3 if level == "3" and s.three_level else 2 if level == "2" else 1


def a_select(s: Session, form: Form) -> None:
    q = int(_get(form, "q", "0"))
    n = len(s.model.pis) if s.three_level else len(s.model.coefs)
    if 0 <= q < n:
        s.selected, s.level = q, 2


def a_select_beta(s: Session, form: Form) -> None:
    """HLM3: click a beta, then add level-3 variables to its equation."""
    p, q = int(_get(form, "p", "0")), int(_get(form, "q", "0"))
    if 0 <= p < len(s.model.pis) and 0 <= q < len(s.model.pis[p].betas):
        s.selected_beta, s.level = (p, q), 3


def _synced(s: Session) -> None:
    s.eq_draft = None
    s.eq_error = None
    if s.three_level:
        pis = s.model.pis
        if s.selected >= len(pis):
            s.selected = 0
        p, q = s.selected_beta
        if p >= len(pis) or q >= len(pis[p].betas):
            s.selected_beta = (0, 0)
    elif s.selected >= len(s.model.coefs):
        s.selected = 0


def a_variable(s: Session, form: Form) -> None:
    name, op = _get(form, "var"), _get(form, "op")
    level = int(_get(form, "level", "1"))
    centring = _get(form, "centring", "none")
    known = {1: s.level1_variables, 2: s.level2_variables, 3: s.level3_variables}.get(level, ())
    if name not in known:
        raise ValueError(f"unknown level-{level} variable {name!r}")
    m = s.model
    if s.three_level:
        _variable3(s, name, op, level, centring)
        _synced(s)
        return
    if level == 1:
        if op == "outcome":
            m.set_outcome(name)
        elif op == "add":
            m.add_level1(name, centring)
        elif op == "remove":
            m.remove_level1(name)
    else:
        if m.outcome is None:
            raise ValueError("choose the outcome first (level-1 variables)")
        q = s.selected
        if op == "add":
            if centring == "group":
                raise ValueError("level-2 variables are uncentred or grand-mean centred")
            m.add_level2(q, name, centring)
        elif op == "remove":
            m.remove_level2(q, name)
    _synced(s)


def _variable3(s: Session, name: str, op: str, level: int, centring: str) -> None:
    m = s.model
    if level == 1:
        if op == "outcome":
            m.set_outcome(name)
        elif op == "add":
            m.add_level1(name, centring)
        elif op == "remove":
            m.remove_level1(name)
        return
    if m.outcome is None:
        raise ValueError("choose the outcome first (level-1 variables)")
    if level == 2:
        if op == "add":
            m.add_level2(s.selected, name, centring)
        elif op == "remove":
            m.remove_level2(s.selected, name)
    else:
        p, q = s.selected_beta
        if op == "add":
            m.add_level3(p, q, name, centring)
        elif op == "remove":
            m.remove_level3(p, q, name)


def a_random3(s: Session, form: Form) -> None:
    """HLM3: click r (a pi random at level 2) or u (a beta random at level 3)."""
    p = int(_get(form, "p", "0"))
    if _get(form, "term") == "u":
        s.model.toggle_u(p, int(_get(form, "q", "0")))
    else:
        s.model.toggle_r(p)
    _synced(s)


def a_random(s: Session, form: Form) -> None:
    q = int(_get(form, "q", "0"))
    s.model.toggle_random(q)
    _synced(s)


def a_intercept(s: Session, form: Form) -> None:
    s.model.toggle_intercept()
    _synced(s)


def a_mixed(s: Session, form: Form) -> None:
    s.mixed = not s.mixed


def a_equations(s: Session, form: Form) -> None:
    text = _get(form, "text")
    extra = (s.level3_variables,) if s.three_level else ()
    try:
        s.model.apply_text(text, s.level1_variables, s.level2_variables, *extra)
    except OpenHLMError as exc:
        s.eq_error = str(exc)
        s.eq_draft = text
        return
    _synced(s)


def a_constraints(s: Session, form: Form) -> None:
    rows = _get(form, "constraints").splitlines()
    extra = (s.level3_variables,) if s.three_level else ()
    try:
        s.model.set_constraints(rows, s.level1_variables, s.level2_variables, *extra)
        s.constraint_error = None
    except OpenHLMError as exc:
        s.constraint_error = str(exc)
    _synced(s)


def a_settings(s: Session, form: Form) -> None:
    st = s.model.settings
    st.title = _get(form, "title").strip()
    st.method = "ml" if _get(form, "method") == "ml" else "reml"
    st.mode = "hlm" if _get(form, "mode") == "hlm" else "exact"

    def names(key: str, allowed: tuple[str, ...]) -> list[str]:
        return [v for v in form.getlist(key) if isinstance(v, str) and v in allowed]

    def one(key: str, allowed: tuple[str, ...]) -> str | None:
        value = _get(form, key)
        return value if value in allowed else None

    l1, l2 = s.level1_variables, s.level2_variables
    st.resid1, st.resid2 = bool(form.get("resid1")), bool(form.get("resid2"))
    fmt = _get(form, "resid_format", "csv")
    st.resid_format = fmt if fmt in views.RESIDUAL_FORMATS else "csv"
    st.max_iterations = _number(form, "max_iterations", int)
    st.deviance_source = _get(form, "deviance_source", "none")
    st.deviance_value = _number(form, "deviance_value", float)
    st.deviance_parameters = _number(form, "deviance_parameters", int)
    st.deviance_convention = "hlm" if _get(form, "deviance_convention") == "hlm" else "standard"
    st.homogeneity = bool(form.get("homogeneity"))
    st.heterogeneous = names("heterogeneous", l1)
    st.level1_weight = one("level1_weight", l1)
    st.level2_weight = one("level2_weight", l2)
    st.precision_weight = one("precision_weight", l1)
    normalize = _get(form, "normalize", "within")
    st.normalize = normalize if normalize in ("within", "overall", "none") else "within"
    st.imputation = _get(form, "imputation", "none")
    st.plausible_values = names("plausible_values", l1)
    st.exploratory = names("exploratory", l2)
    if s.three_level:
        st.resid3 = bool(form.get("resid3"))
        st.level3_weight = one("level3_weight", s.level3_variables)
        st.exploratory3 = names("exploratory3", s.level3_variables)
        return
    was_normal = st.normal
    sampling = _get(form, "sampling", "normal")
    st.sampling = sampling if sampling in SAMPLING else "normal"
    st.sampling_variable = one("sampling_variable", l1)
    st.overdispersion = bool(form.get("overdispersion"))
    method = _get(form, "hglm_method", "pql")
    st.hglm_method = method if method in HGLM_METHODS else "pql"
    if st.normal != was_normal:
        _synced(s)   # the equation text loses / regains R with the distribution
    st.resid1_extra, st.resid2_extra = names("resid1_extra", l1), names("resid2_extra", l2)
    st.tolerance = _number(form, "tolerance", float)
    st.quadrature_points = _number(form, "quadrature_points", int)
    # HLM-mode PQL's iteration settings (shown with mode "hlm" and PQL only: keep them else)
    if "macro_iterations" in form:
        st.macro_iterations = _number(form, "macro_iterations", int)
        st.micro_iterations = _number(form, "micro_iterations", int)
        st.stop_macro = _number(form, "stop_macro", float)
        st.stop_micro = _number(form, "stop_micro", float)


def _number(form: Form, key: str, kind: Callable[[str], Any]) -> Any:
    text = _get(form, key).strip()
    if not text:
        return None
    try:
        return kind(text)
    except ValueError:
        raise ValueError(f"{key.replace('_', ' ')}: {text!r} is not a number") from None


def a_glh_gamma(s: Session, form: Form) -> None:
    gamma = _get(form, "gamma").upper()
    if gamma not in s.model.spec().gamma_labels():
        raise ValueError(f"no gamma {gamma} in the model")
    s.glh_draft.append(f"{gamma} = 0")
    s.glh_error = None


def a_glh_add(s: Session, form: Form) -> None:
    from openhlm.spec.contrasts import parse_hypothesis

    rows = [r.strip() for r in form.getlist("row") if isinstance(r, str) and r.strip()]
    s.glh_draft = rows
    try:
        parse_hypothesis(rows, s.model.spec().gamma_labels(),
                         where=f"hypothesis {len(s.model.settings.glh) + 1}")
    except OpenHLMError as exc:
        s.glh_error = str(exc)
        return
    s.model.settings.glh.append(rows)
    s.glh_draft, s.glh_error = [], None


def a_glh_clear(s: Session, form: Form) -> None:
    s.glh_draft, s.glh_error = [], None


def a_glh_remove(s: Session, form: Form) -> None:
    n = int(_get(form, "n", "0"))
    if 1 <= n <= len(s.model.settings.glh):
        del s.model.settings.glh[n - 1]


def a_run(s: Session, form: Form) -> None:
    if s.mdm is None:
        raise ValueError("make or open an MDM first")
    if s.running() is not None:
        s.say("a run is in progress; wait for it to finish")
        return
    s.view = "output"
    s.start_run()


def a_output_format(s: Session, form: Form) -> None:
    s.output_format = "text" if _get(form, "format") == "text" else "html"


def a_show_run(s: Session, form: Form) -> None:
    s.shown_run = int(_get(form, "n", "0"))
    s.view = "output"


def a_compare(s: Session, form: Form) -> None:
    import openhlm

    a, b = s.run(int(_get(form, "a", "0"))), s.run(int(_get(form, "b", "0")))
    if a is None or b is None or a.results is None or b.results is None:
        raise ValueError("choose two finished runs")
    s.compare_text = None   # a refusal replaces the last comparison shown
    s.compare_pair = (a.number, b.number, len(s.runs))   # shown until the next run
    test = openhlm.compare(a.results, b.results,
                           labels=(f"run {a.number}", f"run {b.number}"))
    s.compare_text = str(test)


def a_graph(s: Session, form: Form) -> None:
    keep = ("kind", "run", "x", "by", "quartiles_of", "sample", "coefficient", "variable",
            "scale", "units")
    s.graph = {k: _get(form, k) for k in keep if _get(form, k)}
    s.counter += 1


ACTIONS: dict[str, Callable[[Session, Form], None]] = {
    "view": a_view, "bundled": a_bundled, "file_type": a_file_type, "make_mdm": a_make_mdm,
    "clear_imputed": a_clear_imputed, "level": a_level, "select": a_select,
    "variable": a_variable, "random": a_random, "intercept": a_intercept, "mixed": a_mixed,
    "mdm_type": a_mdm_type, "select_beta": a_select_beta, "random3": a_random3,
    "equations": a_equations, "constraints": a_constraints, "settings": a_settings,
    "glh_gamma": a_glh_gamma, "glh_add": a_glh_add, "glh_clear": a_glh_clear,
    "glh_remove": a_glh_remove, "run": a_run, "output_format": a_output_format,
    "show_run": a_show_run, "compare": a_compare, "graph": a_graph,
}


# -------------------------------------------------------------------------------- uploads
def save_upload(s: Session, item: Any, limit: int) -> tuple[str, Path] | None:
    """Copy an uploaded file into the session folder (under a name made here)."""
    if not isinstance(item, UploadFile) or not item.filename:
        return None
    name = safe_name(item.filename)
    path = s.new_path(name)
    item.file.seek(0)
    written = 0
    with open(path, "wb") as out:
        while chunk := item.file.read(1 << 20):
            written += len(chunk)
            if written > limit:
                out.close()
                path.unlink(missing_ok=True)
                raise TooLarge(f"{name} is larger than the upload limit "
                               f"({limit / 1e6:.0f} MB)")
            out.write(chunk)
    return name, path


def u_tables(s: Session, form: Form, limit: int) -> None:
    from openhlm.data import read_table

    first = save_upload(s, form.get("level1"), limit)
    if first is None:
        raise ValueError("choose a level-1 file")
    second = save_upload(s, form.get("level2"), limit)
    third = save_upload(s, form.get("level3"), limit) if s.mdm_type == "hlm3" else None
    tables = {"level1": (first[0], read_table(first[1]))}
    if second is not None:
        tables["level2"] = (second[0], read_table(second[1]))
    if third is not None:
        tables["level3"] = (third[0], read_table(third[1]))
    s.tables = tables
    s.id_variable = None
    s.say("Read " + " and ".join(f"{n} ({len(t)} rows, {len(t.columns)} columns)"
                                  for n, t in tables.values())
          + ". Choose the ID and the variables, then make the MDM.")


def u_mdmz(s: Session, form: Form, limit: int) -> None:
    import zipfile

    from openhlm.data import MDM
    from openhlm.data.mdm3 import FORMAT3, MDM3

    saved = save_upload(s, form.get("mdmz"), limit)
    if saved is None:
        raise ValueError("choose an .mdmz file")
    three = False
    with contextlib.suppress(zipfile.BadZipFile, KeyError, OSError, UnicodeDecodeError), \
            zipfile.ZipFile(saved[1]) as archive:
        three = FORMAT3 in archive.read("manifest.json").decode("utf-8")
    s.set_mdm((MDM3 if three else MDM).load(saved[1]), saved[0])
    s.data_names = {"mdm": saved[0]}
    s.tables, s.imputed = {}, []
    s.say(f"Opened {saved[0]}.")


def u_imputed(s: Session, form: Form, limit: int) -> None:
    from openhlm.data import build_mdm, read_table

    if s.mdm is None or s.id_variable is None:
        raise ValueError("make the MDM of the first data set first")
    if s.three_level:
        raise ValueError("multiply imputed data sets are not available for three-level "
                         "models yet")
    level2 = s.tables.get("level2")
    added = []
    for item in form.getlist("files"):
        saved = save_upload(s, item, limit)
        if saved is None:
            continue
        mdm = build_mdm(read_table(saved[1]), level2[1] if level2 else None,
                        id=s.id_variable, level1_variables=list(s.mdm.level1_variables),
                        level2_variables=list(s.mdm.level2_variables) if level2 else None,
                        missing=s.missing)  # type: ignore[arg-type]
        added.append(mdm)
    s.imputed.extend(added)
    s.say(f"Added {len(added)} completed data set(s); {len(s.imputed) + 1} in all.")


def u_modelfile(s: Session, form: Form, limit: int) -> None:
    if s.mdm is None:
        raise ValueError("make or open the MDM first: the model file's data are not read")
    saved = save_upload(s, form.get("file"), limit)
    if saved is None:
        raise ValueError("choose a .toml model file or an .hlm command file")
    raw = saved[1].read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    if s.three_level:
        from openhlm.gui.state3 import restore_from_file3

        restore_from_file3(s.model, saved[0], text, s.level1_variables, s.level2_variables,
                           s.level3_variables)
    else:
        restore_from_file(s.model, saved[0], text, s.level1_variables, s.level2_variables)
    _synced(s)
    s.glh_draft = []
    s.say(f"Opened {saved[0]}.")


UPLOADS: dict[str, Callable[[Session, Form, int], None]] = {
    "tables": u_tables, "mdmz": u_mdmz, "imputed": u_imputed, "modelfile": u_modelfile,
}


# ------------------------------------------------------------------------------ downloads
def run_download(s: Session, run: Any, name: str) -> Response:
    from openhlm.gui.state import command_file_text, model_file_text

    r = run.results
    st = run.settings
    if name == "report.txt":
        return Response(r.report(**run.state.report_options()),
                        media_type="text/plain; charset=utf-8",
                        headers=_attachment(f"run{run.number}.txt"))
    if name == "report.html":
        doc = ("<!doctype html><html><head><meta charset='utf-8'><title>openhlm run "
               f"{run.number}</title></head><body>{r._repr_html_()}</body></html>")
        return Response(doc, media_type="text/html; charset=utf-8",
                        headers=_attachment(f"run{run.number}.html"))
    if name == "results.json":
        return Response(r.to_json(), media_type="application/json",
                        headers=_attachment(f"run{run.number}.json"))
    if name in ("model.toml", "model.hlm"):
        state = run.state
        runs = [x for x in s.runs if x.number < run.number]
        if name == "model.toml" and getattr(state, "three_level", False):
            from openhlm.gui.state3 import model_file_text3

            text = model_file_text3(state, s.data_names, (s.id_variable or "",
                                                          s.id3_variable or ""), s.missing, runs)
        elif name == "model.toml":
            text = model_file_text(state, s.data_names, s.id_variable, s.missing, runs)
        elif getattr(state, "three_level", False):
            raise SpecError("HLM 6 command files for HLM3 are not written; use the TOML model "
                            "file")
        else:
            text = command_file_text(state, runs=runs)
        return Response(text, media_type="text/plain; charset=utf-8",
                        headers=_attachment(f"run{run.number}-{name}"))
    stem, _, suffix = name.partition(".")
    if stem in ("resid1", "resid2", "resid3") and suffix == st.resid_format \
            and hasattr(r, "write_residuals"):
        path = s.new_path(f"run{run.number}-{name}")
        if getattr(run.state, "three_level", False):
            r.write_residuals(**{f"level{stem[-1]}": path}, format=suffix)
        elif stem == "resid1":
            r.write_residuals(level1=path, extra_level1=st.resid1_extra, format=suffix)
        else:
            r.write_residuals(level2=path, extra_level2=st.resid2_extra, format=suffix)
        return Response(path.read_bytes(), media_type="application/octet-stream",
                        headers=_attachment(f"run{run.number}-{name}"))
    return PlainTextResponse("no such file", status_code=404)
