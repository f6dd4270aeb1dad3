"""Docent's indexing engine (no Qt here; see index/kb.py for the service API).

Importing the package switches the process to offline mode before any
third-party library loads (index/config.py: offline_environment): ONNX
Runtime in particular reads its telemetry switch only at import.
"""
from index.config import offline_environment as _offline_environment

_offline_environment()
