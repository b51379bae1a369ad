"""The distributions: the sdist builds from a clean copy of the source tree, the wheel builds
from that sdist, both hold the bundled data, and the wheel installed into a fresh virtual
environment runs ``openhlm fit --example hsb-model4`` and ``python -m openhlm --version`` from
a folder outside the source tree.

``python -m build`` makes the sdist and then the wheel from the unpacked sdist, so a file the
sdist forgets breaks the wheel.  The build backend (hatchling, pyproject's [build-system]) is
installed from the package index into build's isolated environment, as for any user.  The
virtual environment reuses the test environment's numpy/pandas/... (``--system-site-packages``)
and gets only the wheel (``--no-deps``); PYTHONPATH is cleared so the source tree cannot leak in.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

import openhlm

ROOT = Path(__file__).resolve().parents[1]
DATA = "openhlm/datasets/hsb"

if not os.environ.get("CI"):
    pytest.importorskip("build")     # in the test extra; CI must have it


def clean_copy(dest: Path) -> Path:
    """The files a clean checkout has: git's tracked and not-ignored files, else the tree
    without caches, builds and virtual environments."""
    try:
        listing = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT, capture_output=True, check=True).stdout.decode()
        files = [f for f in listing.split("\0") if f and (ROOT / f).is_file()]
    except (OSError, subprocess.CalledProcessError):
        files = []
    if files:
        for rel in files:
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, dest / rel)
    else:
        shutil.copytree(ROOT, dest, ignore=shutil.ignore_patterns(
            ".git", "__pycache__", "*.pyc", "build", "dist", "site", ".venv*", "*.egg-info",
            ".pytest_cache"), dirs_exist_ok=True)
    return dest


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONWARNINGS", "VIRTUAL_ENV")}


def run(cmd: list[str], cwd: Path, timeout: float = 300, **kw) -> str:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False,
                          timeout=timeout, **kw)
    assert proc.returncode == 0, f"{cmd} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.fixture(scope="module")
def dists(tmp_path_factory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("dist")
    source = clean_copy(base / "source")
    out = base / "out"
    run([sys.executable, "-m", "build", "--outdir", str(out), str(source)], cwd=base,
        timeout=600, env=clean_env())
    (sdist,) = out.glob("openhlm-*.tar.gz")
    (wheel,) = out.glob("openhlm-*.whl")
    return sdist, wheel


def pip_version() -> tuple[int, ...]:
    import pip

    return tuple(int(p) for p in re.findall(r"\d+", pip.__version__)[:2])


def bundled_data() -> set[str]:
    return {p.name for p in (ROOT / "src" / DATA).iterdir()
            if p.is_file() and p.suffix not in (".py", ".pyc")}


def test_distributions_are_named_by_the_version(dists):
    sdist, wheel = dists
    assert sdist.name == f"openhlm-{openhlm.__version__}.tar.gz"
    assert wheel.name == f"openhlm-{openhlm.__version__}-py3-none-any.whl"


def test_sdist_holds_sources_data_and_release_files(dists):
    sdist, _ = dists
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    for rel in ("pyproject.toml", "README.md", "LICENSE", "CITATION.cff", "CHANGELOG.md",
                "mkdocs.yml", "src/openhlm/__init__.py", "src/openhlm/py.typed"):
        assert rel in names, rel
    data = {n.rsplit("/", 1)[1] for n in names if n.startswith(f"src/{DATA}/")}
    assert bundled_data() <= data, bundled_data() - data


def test_wheel_holds_package_data_typing_marker_and_licence(dists):
    _, wheel = dists
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        dist_info = f"openhlm-{openhlm.__version__}.dist-info"
        meta = Parser().parsestr(zf.read(f"{dist_info}/METADATA").decode())
    assert "openhlm/py.typed" in names
    assert f"{dist_info}/licenses/LICENSE" in names
    data = {n.rsplit("/", 1)[1] for n in names if n.startswith(f"{DATA}/")}
    assert bundled_data() <= data, bundled_data() - data
    assert not any("__pycache__" in n or n.startswith(("tests/", "docs/")) for n in names)
    assert meta["Version"] == openhlm.__version__
    assert meta["Requires-Python"] == ">=3.10"
    urls = meta.get_all("Project-URL") or []
    assert any(u.startswith("Repository, https://github.com/openhlm/openhlm") for u in urls)
    assert "Typing :: Typed" in (meta.get_all("Classifier") or [])


def test_installed_wheel_runs_outside_the_source_tree(dists, tmp_path):
    _, wheel = dists
    venv = tmp_path / "venv"
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = bindir / ("python.exe" if os.name == "nt" else "python")
    env = clean_env()
    install = ["install", "--no-deps", "--ignore-installed", "--no-index",
               "--disable-pip-version-check", "-q", str(wheel)]
    if pip_version() >= (22, 3):
        # a venv without its own pip (5 s faster); the test environment's pip installs into it
        run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip",
             str(venv)], cwd=tmp_path)
        run([sys.executable, "-m", "pip", "--python", str(python), *install], cwd=tmp_path,
            env=env)
    else:
        run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], cwd=tmp_path)
        run([str(python), "-m", "pip", *install], cwd=tmp_path, env=env)
    work = tmp_path / "work"
    work.mkdir()

    location = run([str(python), "-c", "import openhlm; print(openhlm.__file__)"], cwd=work,
                   env=env).strip()
    assert Path(location).resolve().is_relative_to(venv.resolve()), location

    version = run([str(python), "-m", "openhlm", "--version"], cwd=work, env=env)
    assert version.strip() == f"openhlm {openhlm.__version__}"

    exe = bindir / ("openhlm.exe" if os.name == "nt" else "openhlm")
    report = run([str(exe), "fit", "--example", "hsb-model4"], cwd=work, env=env)
    assert report.splitlines()[0].startswith(f"Program:                openhlm "
                                             f"{openhlm.__version__} ")
    # the seminar's Model 4 at the REML optimum (lme4: 12.095997, SE 0.198733; 157 d.f.)
    assert re.search(r"INTRCPT2, G00\s+12\.095997\s+0\.198733\s+60\.865\s+157\s", report), report
    assert list(work.iterdir()) == []          # nothing written where it ran
