"""Settings: development generates and keeps a secret; production refuses a missing one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def _run(env: dict[str, str], tmp: Path) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "ENVIRONMENT", "DATA_DIR"}
    }
    return subprocess.run(
        [sys.executable, "-m", "aicrm.cli", "config"],
        env={**clean, "DATA_DIR": str(tmp), **env},
        capture_output=True,
        text=True,
        cwd=tmp,
        timeout=60,
    )


def test_development_secret_is_generated_once(tmp_path: Path) -> None:
    r1 = _run({"ENVIRONMENT": "development"}, tmp_path)
    assert r1.returncode == 0, r1.stderr
    secret_file = tmp_path / "secret_key"
    first = secret_file.read_text()
    assert len(first) >= 32
    r2 = _run({"ENVIRONMENT": "development"}, tmp_path)
    assert r2.returncode == 0
    assert secret_file.read_text() == first
    assert oct(secret_file.stat().st_mode)[-3:] == "600"


def test_production_refuses_default_or_missing_secret(tmp_path: Path) -> None:
    for secret in ("", "change-me", "short"):
        r = _run({"ENVIRONMENT": "production", "SECRET_KEY": secret}, tmp_path)
        assert r.returncode != 0
        assert "SECRET_KEY" in r.stderr
    ok = _run({"ENVIRONMENT": "production", "SECRET_KEY": "x" * 48}, tmp_path)
    assert ok.returncode == 0, ok.stderr
