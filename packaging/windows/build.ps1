# Windows build of Docent: dist\docent\ (one-dir app) and dist\docent-<version>-setup.exe.
# NOT run on this project's CI (Linux only): written for a maintainer on Windows 10/11 x64 with
#   - Python 3.11 x64 (python.org installer; `py -3.11` must work)
#   - Inno Setup 6 (ISCC.exe on PATH or in its default folder)
#   - for llama-cpp-python: either the Visual Studio 2022 Build Tools (C++ workload) to compile it,
#     or its prebuilt CPU wheels (-UsePrebuiltLlama, from the project's own wheel index)
#
#   powershell -ExecutionPolicy Bypass -File packaging\windows\build.ps1 [-Version 0.1.0] [-Gpu] [-UsePrebuiltLlama]
#
# -Gpu: CUDA llama.cpp + onnxruntime-gpu (needs the CUDA Toolkit 12 for the llama.cpp build); the
# CUDA runtime DLLs are then collected into the package (the NVIDIA driver itself never is).
param(
    [string]$Version = "0.1.0",
    [switch]$Gpu,
    [switch]$UsePrebuiltLlama,
    [switch]$SkipInstaller
)
$ErrorActionPreference = "Stop"
$Root = Resolve-Path (Join-Path $PSScriptRoot "..\..")
Set-Location $Root
$Py = Join-Path $Root ".venv\Scripts\python.exe"

function Step($msg) { Write-Host "== $msg" -ForegroundColor Cyan }
function Run($exe, [string[]]$argv) {
    & $exe @argv
    if ($LASTEXITCODE -ne 0) { throw "$exe $($argv -join ' ') failed with exit code $LASTEXITCODE" }
}

Step "virtual environment (.venv, Python 3.11)"
if (-not (Test-Path $Py)) { Run "py" @("-3.11", "-m", "venv", ".venv") }
Run $Py @("-m", "pip", "install", "--quiet", "--upgrade", "pip")
if ($UsePrebuiltLlama) {
    Run $Py @("-m", "pip", "install", "--quiet", "llama-cpp-python==0.3.36",
              "--extra-index-url", "https://abetlen.github.io/llama-cpp-python/whl/cpu")
}
# torch from requirements.txt is needed here only for the build-time ONNX export
Run $Py @("-m", "pip", "install", "--quiet", "-r", "requirements.txt", "-r", "packaging\requirements-build.txt")
if ($Gpu) {
    Step "GPU: onnxruntime-gpu and CUDA llama.cpp"
    Run $Py @("-m", "pip", "uninstall", "-y", "onnxruntime")
    Run $Py @("-m", "pip", "install", "onnxruntime-gpu==1.31.1")
    $env:CMAKE_ARGS = "-DGGML_CUDA=on"
    Run $Py @("-m", "pip", "install", "--force-reinstall", "--no-deps", "--no-cache-dir", "llama-cpp-python==0.3.36")
    Remove-Item Env:CMAKE_ARGS
    $env:DOCENT_GPU = "1"
}

Step "assets: joined gemma-3-270m GGUF, icons"
Run $Py @("packaging\prepare_assets.py", "build\docent-assets")
Run $Py @("packaging\make_icons.py")

Step "PyInstaller one-dir app"
$env:DOCENT_ASSETS = Join-Path $Root "build\docent-assets"
Run $Py @("-m", "PyInstaller", "--noconfirm", "--clean", "--log-level", "WARN",
          "--distpath", "dist", "--workpath", "build\pyinstaller", "packaging\docent.spec")

Step "smoke test: dist\docent\docent.exe self-test (offline, bundled model)"
$env:QT_QPA_PLATFORM = "offscreen"
Run "dist\docent\docent.exe" @("self-test")
$env:DOCENT_BENCH_STARTUP = "1"
Run "dist\docent\docent.exe" @()   # the window shows, prints its start-up timings and quits
Remove-Item Env:DOCENT_BENCH_STARTUP
Remove-Item Env:QT_QPA_PLATFORM
Run $Py @("packaging\size_report.py", "dist\docent", "--top", "15")

if (-not $SkipInstaller) {
    Step "Inno Setup installer"
    $iscc = (Get-Command "ISCC.exe" -ErrorAction SilentlyContinue).Source
    if (-not $iscc) { $iscc = Join-Path ${env:ProgramFiles(x86)} "Inno Setup 6\ISCC.exe" }
    if (-not (Test-Path $iscc)) { throw "Inno Setup 6 not found (ISCC.exe); install it or pass -SkipInstaller" }
    Run $iscc @("/Qp", "/DAppVersion=$Version", "packaging\windows\docent.iss")
    Get-Item "dist\docent-$Version-setup.exe" | Format-List Name, Length
}
Step "done"
