"""`triage --help` stays light: no face model, dlib or OpenCV import on the way to the help text."""

from __future__ import annotations

import json
import subprocess
import sys


def test_help_does_not_import_face_libraries():
    code = (
        "import sys, json; from typer.testing import CliRunner; from triage.cli.app import app; "
        "r = CliRunner().invoke(app, ['--help']); assert r.exit_code == 0, r.output; "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('face_recognition', 'dlib', 'cv2', 'face_recognition_models', 'matplotlib', 'onnxruntime'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_python_dash_m_works():
    out = subprocess.run([sys.executable, "-m", "triage", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "capture" in out.stdout
