"""Wall time of `triage evaluate --fixture orl` (40 people x 10 photos) in a new home: cold (every photo
encoded, in a process pool) and warm (templates from the home's sealed cache), with the headline figures.
The target is under 5 minutes cold on 2 cores.

Run: uv run python benchmarks/evaluate_orl.py [--workers N]
"""

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

workers = sys.argv[sys.argv.index("--workers") + 1] if "--workers" in sys.argv else None
with tempfile.TemporaryDirectory(prefix="triage-bench-") as tmp:
    env = dict(
        os.environ,
        TRIAGE_HOME=str(Path(tmp) / "home"),
        TRIAGE_PASSPHRASE="benchmark-passphrase",
        TRIAGE_OFFICER="Benchmark",
    )
    triage = [sys.executable, "-m", "triage"]
    subprocess.run(
        [*triage, "init", "--site", "Benchmark", "--force-code", "BEN"], env=env, check=True, capture_output=True
    )
    command = [*triage, "evaluate", "--fixture", "orl", "--json"] + (["--workers", workers] if workers else [])
    for label in ("cold", "warm"):
        started = time.perf_counter()
        run = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        report = json.loads(run.stdout)
        m = report["matchers"][0]
        v, i = m["verification"], m["identification"]
        print(
            f"{label}: {seconds:.1f} s wall ({report['cache']['encoded']} encoded, "
            f"{report['cache']['from_cache']} from the cache, {report['options']['workers']} workers, "
            f"{os.cpu_count()} CPUs)"
        )
    print(
        f"{m['matcher']}: FTA {m['acquisition']['failed']}/{m['acquisition']['photos']}, "
        f"EER {100 * v['eer']['rate']:.3g}%, FNMR@FMR=1e-3 {100 * v['fnmr_at_fmr'][0]['fnmr']:.3g}%, "
        f"FNMR@FMR=1e-4 {100 * v['fnmr_at_fmr'][1]['fnmr']:.3g}%, rank-1 {100 * i['rank1']['rate']:.3g}%"
    )
