"""Where a Bolt load's time goes: Neo4j's and `kgcrm load`'s CPU, sampled every two seconds.

Generates a world, starts a fresh Neo4j of its own, runs `kgcrm load` through Bolt and prints, per
sample, how many cores each process used. If Neo4j fills the machine's cores while the loader idles,
no change to the loader (nor a second writer) can make the load faster on that machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from benchkit import KGCRM, bench_settings, cpu_seconds, kgcrm_env
from kgcrm.graph.server import LocalNeo4j

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--every", type=float, default=2.0, help="seconds between samples")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="kgcrm-bench-load-cpu-"))
    settings = bench_settings("load-cpu", pagecache="2g")
    env = kgcrm_env(settings)
    local = LocalNeo4j(settings)
    try:
        world = work / "world"
        subprocess.run([KGCRM, "generate", "--accounts", str(args.accounts), "--seed", "1", "--quiet", str(world)],
                       env=env, check=True, stdout=subprocess.DEVNULL)
        local.start()
        subprocess.run([KGCRM, "schema", "apply"], env=env, check=True, capture_output=True)
        neo4j_pid = local.running_pid()
        assert neo4j_pid is not None
        neo4j_start, started = cpu_seconds(neo4j_pid), time.perf_counter()
        loader = subprocess.Popen([KGCRM, "load", str(world), "--format", "salesforce", "--batch-size",
                                   str(args.batch_size), "--quiet"], env=env)
        samples = []
        last = (neo4j_start, 0.0, started)
        while loader.poll() is None:
            time.sleep(args.every)
            now = (cpu_seconds(neo4j_pid), cpu_seconds(loader.pid), time.perf_counter())
            if loader.poll() is not None:
                break  # the loader ended during this sample: its CPU reads 0 now
            span = now[2] - last[2]
            samples.append((now[2] - started, (now[0] - last[0]) / span, (now[1] - last[1]) / span))
            last = now
        if loader.wait() != 0:
            raise SystemExit(f"bench_load_cpu: kgcrm load exited {loader.returncode}")
        wall, neo4j_cpu = time.perf_counter() - started, cpu_seconds(neo4j_pid) - neo4j_start
    finally:
        local.stop()
        shutil.rmtree(local.instance_dir, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)

    print(f"## Bolt load CPU by process\n- command: `python bench/bench_load_cpu.py --accounts {args.accounts} "
          f"--batch-size {args.batch_size}`\n- machine: {os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f} after")
    print(f"- `kgcrm load` wall {wall:.1f} s; Neo4j used {neo4j_cpu:.1f} CPU-seconds\n")
    print("| second | Neo4j cores | kgcrm load cores |\n|---|---|---|")
    for at, neo4j_cores, load_cores in samples:
        print(f"| {at:.0f} | {neo4j_cores:.2f} | {load_cores:.2f} |")


if __name__ == "__main__":
    main()
