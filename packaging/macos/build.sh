#!/usr/bin/env bash
# macOS build of Docent: dist/Docent.app and dist/Docent-<version>-<arch>.dmg.
# NOT run on this project's CI (Linux only): written for a maintainer on macOS 11+ with
# Python 3.11 (python.org or Homebrew) and the Xcode command line tools (llama-cpp-python
# compiles with Metal on Apple Silicon).
#
#   packaging/macos/build.sh                 # ad-hoc signed .app + .dmg (runs on this Mac)
#   DOCENT_CODESIGN_IDENTITY="Developer ID Application: ..." packaging/macos/build.sh
#                                            # signed for distribution (then notarize the .dmg:
#                                            #  xcrun notarytool submit dist/*.dmg --wait ...)
# Environment: PYTHON (default python3.11), DOCENT_VERSION (default 0.1.0).
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-python3.11}
VERSION=${DOCENT_VERSION:-0.1.0}
ARCH=$(uname -m)
PY=.venv/bin/python
APP=dist/Docent.app
DMG="dist/Docent-${VERSION}-${ARCH}.dmg"
step() { echo "== $*"; }

step "virtual environment"
[ -x "$PY" ] || "$PYTHON" -m venv .venv
"$PY" -m pip install --quiet --upgrade pip
# torch (requirements.txt) is used only for the build-time ONNX export; it is not packaged
"$PY" -m pip install --quiet -r requirements.txt -r packaging/requirements-build.txt

step "assets and icons"
"$PY" packaging/prepare_assets.py build/docent-assets
"$PY" packaging/make_icons.py
iconutil -c icns packaging/macos/docent.iconset -o packaging/macos/docent.icns

step "PyInstaller .app"
rm -rf "$APP"
DOCENT_ASSETS=build/docent-assets DOCENT_VERSION="$VERSION" "$PY" -m PyInstaller --noconfirm --clean \
    --log-level WARN --distpath dist --workpath build/pyinstaller packaging/docent.spec

step "code signature"
IDENTITY=${DOCENT_CODESIGN_IDENTITY:--}   # "-" = ad-hoc: enough to run on this Mac
if [ "$IDENTITY" = "-" ]; then
    codesign --force --deep --sign - "$APP"
else  # hardened runtime (required for notarization) with the entitlements Python needs
    codesign --force --deep --timestamp --options runtime \
        --entitlements packaging/macos/entitlements.plist --sign "$IDENTITY" "$APP"
fi
codesign --verify --deep --strict "$APP"

step "smoke test: self-test and window (offline, bundled model)"
"$APP/Contents/MacOS/docent" self-test
QT_QPA_PLATFORM=offscreen DOCENT_BENCH_STARTUP=1 "$APP/Contents/MacOS/docent"
"$PY" packaging/size_report.py "$APP/Contents/Frameworks" --top 15 || true

step "disk image"
staging=build/dmg
rm -rf "$staging" "$DMG"
mkdir -p "$staging"
cp -R "$APP" "$staging/"
ln -s /Applications "$staging/Applications"
hdiutil create -volname "Docent" -srcfolder "$staging" -ov -format UDZO "$DMG"
rm -rf "$staging"
ls -l "$DMG"
step "done: open $DMG and drag Docent to Applications (user data stays in ~/Library/Application Support/Docent)"
