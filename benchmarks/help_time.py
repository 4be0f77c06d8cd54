"""Wall time of `triage --help` (median of several runs), and which heavy modules it imported.

Run: uv run python benchmarks/help_time.py
"""

import statistics
import subprocess
import sys
import time

RUNS = 7
times = []
for _ in range(RUNS):
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "triage", "--help"], check=True, capture_output=True)
    times.append(time.perf_counter() - t)
probe = subprocess.run(
    [sys.executable, "-X", "importtime", "-m", "triage", "--help"], capture_output=True, text=True, check=True
)
heavy = sorted(
    {
        line.split("|")[-1].strip().split(".")[0]
        for line in probe.stderr.splitlines()
        if line.split("|")[-1].strip().split(".")[0]
        in ("face_recognition", "dlib", "cv2", "matplotlib", "onnxruntime", "numpy", "sqlite_utils")
    }
)
print(
    f"triage --help: median {statistics.median(times) * 1000:.0f} ms over {RUNS} runs "
    f"(min {min(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms)"
)
print(f"heavy modules imported: {', '.join(heavy) or 'none'}")
