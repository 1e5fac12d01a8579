"""Run one benchmark case in a fresh Python process and read back its JSON line."""

from __future__ import annotations

import json
import subprocess
import sys


def run_child(code: str, *args: object, timeout: float | None = None) -> dict:
    """``python -c code args...``; its last stdout line as JSON, ``{"timeout": True}`` if it
    runs past ``timeout`` seconds."""
    try:
        out = subprocess.run([sys.executable, "-c", code, *map(str, args)],
                             capture_output=True, text=True, check=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"timeout": True}
    return json.loads(out.stdout.strip().splitlines()[-1])
