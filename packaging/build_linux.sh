#!/usr/bin/env bash
# Linux package build: `make package` runs this from the repository root.
#
#   dist/docent/                              one-dir app (run dist/docent/docent)
#   dist/docent_<ver>_<arch>.deb              /opt/docent + /usr/bin/docent + menu entry + icon
#   dist/docent-<ver>-linux-<arch>.tar.gz     portable: unpack anywhere, run docent/docent
#
# Environment: PY (default .venv/bin/python), DOCENT_VERSION (default 0.1.0),
# DOCENT_GPU=1 (keep CUDA libraries: after `make gpu`), DOCENT_SKIP_DEB=1, DOCENT_SKIP_TAR=1.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
VERSION=${DOCENT_VERSION:-0.1.0}
ARCH=$(dpkg --print-architecture 2>/dev/null || uname -m)
MACHINE=$(uname -m)
ASSETS=build/docent-assets
APP=dist/docent
start=$(date +%s)
step() { echo "== $* ($(( $(date +%s) - start )) s)"; }

# After `make gpu` (onnxruntime-gpu in the venv) the package is the GPU variant unless told otherwise.
if [ -z "${DOCENT_GPU:-}" ]; then
    DOCENT_GPU=$("$PY" -c "import onnxruntime as o; print(int('CUDAExecutionProvider' in o.get_available_providers()))" 2>/dev/null || echo 0)
fi
export DOCENT_GPU
echo "variant: $([ "$DOCENT_GPU" = 1 ] && echo GPU/CUDA || echo CPU)"

step "build tools"
"$PY" -m PyInstaller --version >/dev/null 2>&1 || "$PY" -m pip install --quiet -r packaging/requirements-build.txt

step "assets: joined gemma-3-270m GGUF"
"$PY" packaging/prepare_assets.py "$ASSETS"
[ -f packaging/linux/docent.png ] || "$PY" packaging/make_icons.py

step "PyInstaller one-dir app"
DOCENT_ASSETS="$ASSETS" "$PY" -m PyInstaller --noconfirm --clean --log-level WARN \
    --distpath dist --workpath build/pyinstaller packaging/docent.spec

step "trim: debug info, duplicate llama.cpp libraries"
# Only files that carry DWARF (the interpreter, its extension modules, a few wheels); wheels'
# auditwheel-patched libraries are left alone (strip can break patchelf'd files).
if command -v strip >/dev/null; then
    find "$APP/_internal" -type f -name '*.so*' -print0 | while IFS= read -r -d '' f; do
        case "$f" in *.libs/*) continue ;; esac
        if readelf -S "$f" 2>/dev/null | grep -q '\.debug_info'; then strip --strip-debug "$f"; fi
    done
fi
# libllama.so is opened by path, libllama.so.0 by SONAME: one file, one symlink.
for so in "$APP"/_internal/llama_cpp/lib/lib*.so; do
    if [ -f "$so.0" ] && [ ! -L "$so" ] && cmp -s "$so" "$so.0"; then ln -sf "$(basename "$so").0" "$so"; fi
done
"$APP/docent" --help >/dev/null  # the frozen app starts at all
printf '{"version": "%s", "gpu": %s, "commit": "%s"}\n' "$VERSION" "$([ "$DOCENT_GPU" = 1 ] && echo true || echo false)" \
    "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" > "$APP/_internal/docent-build.json"

if [ "${DOCENT_SKIP_DEB:-0}" != 1 ] && command -v dpkg-deb >/dev/null; then
    step ".deb"
    root=build/deb/docent
    rm -rf build/deb && mkdir -p "$root/DEBIAN" "$root/opt" "$root/usr/bin" "$root/usr/share/applications" \
        "$root/usr/share/icons/hicolor/256x256/apps" "$root/usr/share/icons/hicolor/scalable/apps" \
        "$root/usr/share/doc/docent"
    cp -a "$APP" "$root/opt/docent"
    ln -s /opt/docent/docent "$root/usr/bin/docent"
    install -m 644 packaging/linux/docent.desktop "$root/usr/share/applications/docent.desktop"
    install -m 644 packaging/linux/docent.png "$root/usr/share/icons/hicolor/256x256/apps/docent.png"
    install -m 644 packaging/linux/docent.svg "$root/usr/share/icons/hicolor/scalable/apps/docent.svg"
    printf 'Docent %s, built %s from %s\nUser data (kept on removal): ~/.local/share/Docent\n' \
        "$VERSION" "$(date -u +%F)" "$(git rev-parse --short HEAD 2>/dev/null || echo source)" \
        > "$root/usr/share/doc/docent/README"
    installed_kb=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
    # The app runs on the glibc it was built against or newer: the highest GLIBC_x.y any bundled
    # file needs (the build machine's own libraries, e.g. libpython, set it; build on an older
    # distribution to reach older systems).
    glibc=$(find "$APP" -type f \( -name '*.so*' -o -name docent \) -exec objdump -T {} + 2>/dev/null \
        | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -t. -k1,1n -k2,2n -u | tail -1 || true)
    glibc=${glibc:-2.31}
    sed -e "s/@VERSION@/$VERSION/" -e "s/@ARCH@/$ARCH/" -e "s/@INSTALLED_KB@/$installed_kb/" \
        -e "s/@GLIBC@/$glibc/" \
        packaging/linux/control.in > "$root/DEBIAN/control"
    install -m 755 packaging/linux/postinst packaging/linux/postrm "$root/DEBIAN/"
    chmod -R u+rwX,go+rX,go-w "$root"
    # gzip: every dpkg can read it, and the 240 MB GGUF does not compress anyway (xz only adds minutes)
    dpkg-deb --root-owner-group -Zgzip --build "$root" "dist/docent_${VERSION}_${ARCH}.deb" >/dev/null
    rm -rf build/deb  # a second 700 MB copy of the app
    ls -l "dist/docent_${VERSION}_${ARCH}.deb"
fi

if [ "${DOCENT_SKIP_TAR:-0}" != 1 ]; then
    step "portable tarball"
    tar -C dist -czf "dist/docent-${VERSION}-linux-${MACHINE}.tar.gz" docent
    ls -l "dist/docent-${VERSION}-linux-${MACHINE}.tar.gz"
fi

step "size"
"$PY" packaging/size_report.py "$APP" --top 15
step "done"
