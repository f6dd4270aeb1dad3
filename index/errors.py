"""Errors the engine reports to people: one line each, never a trace (main.py prints them)."""
from __future__ import annotations


class KnowledgeBaseError(Exception):
    pass
