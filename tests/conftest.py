import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Never the developer's real keyring: tests that need one install tests/fixtures/memory_keyring.py.
os.environ["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"


@pytest.fixture(autouse=True)
def _docent_home(tmp_path_factory, monkeypatch):
    """Never touch the real per-user data dir from tests."""
    monkeypatch.setenv("DOCENT_HOME", str(tmp_path_factory.getbasetemp() / "docent-home"))
