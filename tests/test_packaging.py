"""The wheel as a host application gets it: one top-level package, typed, and blind to the host's
own modules named like ours (``events``, ``rules``, ``storage``, ``actors``, ``consensus``).

Everything runs offline: the wheel is built without build isolation from a copy of the source
(the repository's ``build/`` could hold stale files), installed with ``--no-index`` into a fresh
virtualenv whose only other path is this environment's site-packages, given by a plain line in a
``.pth`` file. A plain line adds that directory without processing the ``.pth`` files in it, so
the repository's editable install stays invisible there, which the tests check.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path, PurePosixPath

import pytest

from tests.test_examples import _readme_embedding_example

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "consortium"
SUBPACKAGES = (
    "events",
    "consensus",
    "rules",
    "storage",
    "actors",
    "actors/net",
    "ledger",
    "bench",
    "audit",
    "commands",
    "demo",
)
# A host application's own modules, named like the repository's folders. Each fails loudly if
# anything imports it, so a bare ``import events`` left in the library cannot pass unnoticed.
HOST_MODULES = ("events.py", "rules/__init__.py", "storage.py", "actors.py", "consensus.py")
# What a host type-checks: the public names must be real types, not Any.
HOST_TYPED = """\
from consortium import Identity, ParticipantHandle, Transfer


def host(identity: Identity, body: Transfer, handle: ParticipantHandle) -> None:
    reveal_type(identity)
    reveal_type(body)
    reveal_type(handle.submit)
"""
REVEALED = [
    '"consortium.events.identity.Identity"',
    '"consortium.events.payments.Transfer"',
    '"def (body: consortium.events.body.EventBody) -> consortium.actors.receipts.ReceiptFuture"',
]


def _run(args: list[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """A subprocess that sees no PYTHONPATH and asks no index; fails the test on a non-zero exit."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{args}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def _copy_source(into: Path) -> Path:
    """pyproject.toml, README.md and consortium/ with its links, plus the folders they point to."""
    source = into / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    skip = shutil.ignore_patterns("__pycache__")
    shutil.copytree(PACKAGE, source / "consortium", symlinks=True, ignore=skip)
    for link in PACKAGE.iterdir():
        if link.is_symlink():
            target = link.resolve()
            shutil.copytree(target, source / target.relative_to(ROOT), ignore=skip)
    return source


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    into = tmp_path_factory.mktemp("wheel")
    source = _copy_source(into)
    _run(
        [
            sys.executable,
            *("-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation"),
            *("--no-index", "--wheel-dir", str(into / "dist"), str(source)),
        ],
        cwd=into,
    )
    (built,) = (into / "dist").glob("consortium-*.whl")
    return built


@pytest.fixture(scope="module")
def fresh_python(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtualenv holding only the wheel; the dependencies come from this environment."""
    venv = tmp_path_factory.mktemp("venv") / "env"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=venv.parent)
    python = venv / "bin" / "python"
    _run(
        [
            sys.executable,
            *("-m", "pip", "--python", str(python), "install", "--quiet"),
            *("--no-deps", "--no-index", str(wheel)),
        ],
        cwd=venv.parent,
    )
    purelib = _run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        cwd=venv.parent,
    ).stdout.strip()
    ours = dict.fromkeys([sysconfig.get_path("purelib"), sysconfig.get_path("platlib")])
    (Path(purelib) / "test_dependencies.pth").write_text("".join(f"{p}\n" for p in ours))
    return python


@pytest.fixture
def host_dir(tmp_path: Path) -> Path:
    """A host application's directory, with its own modules named like the repository's."""
    for relative in HOST_MODULES:
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"raise ImportError('the host application\\'s {relative} was imported')\n")
    return tmp_path


def test_the_wheel_holds_one_typed_top_level_package_with_every_module(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (top_level,) = [n for n in names if n.endswith(".dist-info/top_level.txt")]
        assert archive.read(top_level).decode().split() == ["consortium"]
    paths = [PurePosixPath(n) for n in names]
    assert {p.parts[0] for p in paths if not p.parts[0].endswith(".dist-info")} == {"consortium"}
    assert PurePosixPath("consortium/py.typed") in paths
    modules = {p.relative_to("consortium") for p in paths if p.suffix == ".py"}
    source = {
        PurePosixPath(Path(folder, name).relative_to(PACKAGE).as_posix())
        for folder, _, files in os.walk(PACKAGE, followlinks=True)  # into events/, rules/, ...
        for name in files
        if name.endswith(".py")
    }
    assert modules == source
    for subpackage in SUBPACKAGES:
        assert PurePosixPath(subpackage, "__init__.py") in modules, subpackage
        assert len([m for m in modules if m.parent == PurePosixPath(subpackage)]) > 1, subpackage


def test_the_wheel_declares_its_licence_as_an_spdx_expression(wheel: Path) -> None:
    """PEP 639: setuptools deprecates the ``license`` table and stops accepting it in 2027, and
    CI builds with the newest setuptools; the SPDX string is the form that keeps building."""
    with zipfile.ZipFile(wheel) as archive:
        (metadata,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        fields = archive.read(metadata).decode().split("\n\n", 1)[0].splitlines()
    assert "License-Expression: Apache-2.0" in fields
    assert not [f for f in fields if f.startswith("License:")]


def test_the_readme_embedding_example_runs_beside_host_modules_named_like_ours(
    fresh_python: Path, host_dir: Path
) -> None:
    where = _run(
        [str(fresh_python), "-c", "import consortium; print(consortium.__file__)"], host_dir
    )
    assert Path(where.stdout.strip()).is_relative_to(fresh_python.parent.parent)
    (host_dir / "embed.py").write_text(_readme_embedding_example(), "utf-8")
    done = _run([str(fresh_python), "embed.py"], host_dir)
    accepted, height, bob_balance = done.stdout.split()
    assert (accepted, bob_balance) == ("True", "2500")
    assert int(height) > 0


def test_the_benchmark_runs_from_the_install(fresh_python: Path, host_dir: Path) -> None:
    done = _run([str(fresh_python), "-m", "consortium.bench", "--help"], host_dir)
    assert "--validators" in done.stdout


def test_importing_the_package_or_the_audit_loads_no_zeromq_and_no_actors(
    fresh_python: Path, host_dir: Path
) -> None:
    probe = (
        "import json, sys\n"
        "def loaded(): return sorted({m.split('.')[0] for m in sys.modules} & {'zmq', 'pykka'})\n"
        "import consortium\n"
        "package = loaded()\n"
        "import consortium.audit.verify\n"
        "print(json.dumps([package, loaded()]))\n"
    )
    done = _run([str(fresh_python), "-c", probe], host_dir)
    assert json.loads(done.stdout) == [[], []]


@pytest.mark.parametrize("install", ["wheel", "editable"])
def test_a_host_type_checker_sees_the_real_types(
    install: str, fresh_python: Path, host_dir: Path, tmp_path: Path
) -> None:
    """mypy of the host project, run against the wheel's virtualenv and against this repository's
    own (the quick start's editable install). An import-hook editable install, which setuptools
    makes when it cannot map the package to one directory, would show here as a missing module."""
    python = fresh_python if install == "wheel" else Path(sys.executable)
    (host_dir / "host.py").write_text(HOST_TYPED)
    done = subprocess.run(
        [
            sys.executable,
            *("-m", "mypy", "--strict", "--no-incremental", "--python-executable", str(python)),
            *("--cache-dir", str(tmp_path / "mypy-cache"), "host.py"),
        ],
        cwd=host_dir,
        capture_output=True,
        text=True,
        timeout=300,
    )
    revealed = re.findall(r"Revealed type is (.*)$", done.stdout, re.MULTILINE)
    assert revealed == REVEALED, done.stdout
    assert done.returncode == 0, done.stdout
