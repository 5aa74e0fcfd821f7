"""The form tests check what is read and counted; drawing the report picture (half a second per
archive) is the report tests' subject, so it is skipped here except where a test watches it."""

from __future__ import annotations

import pytest

from judgeflow import report


@pytest.fixture(autouse=True)
def no_picture(request, monkeypatch):
    if "drawn" not in request.fixturenames:
        monkeypatch.setattr(report, "render_png", lambda summary: b"\x89PNG (not drawn in the form tests)")
