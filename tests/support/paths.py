"""Files of the repository the tests read or write."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEMO_MANIFEST = REPO / "tenants" / "demo.yaml"
# Screenshots of the Chromium runs, for a person to look at.
ARTIFACTS = REPO / "tests" / "artifacts"
