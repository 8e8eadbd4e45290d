#!/usr/bin/env python3
"""Split one pod's wait into stages, over many seeds (docs/calibration.md).

    python3 scenarios/calibration/stages.py scenarios/calibration/karpenter-single-pod.yaml
    python3 scenarios/calibration/stages.py scenarios/calibration/ca-single-pod.yaml --seeds 100 \\
        --set spec.clusterAutoscaler.flags.frequent-loops-enabled=false

Runs `autoscale-sim run SCENARIO --seed N` for N = 1..SEEDS into a temporary directory, reads
each run's pods.csv, nodes.csv and decisions.jsonl, and prints, per stage, the median and the
10th / 90th percentiles (nearest rank) and the maximum over the seeds, and seed 1's value. The scenario must
create exactly one pod that needs exactly one new node (the calibration scenarios do).

Stages (seconds): pod created → Unschedulable (pods.csv); Unschedulable → the autoscaler's
decision (Karpenter: `nodeclaim-created`, the batch closing; cluster-autoscaler: `scale-up`,
SetDesiredCapacity); decision → instance pending (nodes.csv `launched_s`; Karpenter: the 300 ms
solve plus CreateFleet; cluster-autoscaler: the ASG dispatch); pending → kubelet registered
(pending → running and the OS boot are not reported separately); registered → Node Ready; Node
Ready → pod bound; bound → running; and the totals the published figures use.
"""

import argparse
import csv
import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path


def nearest_rank(values, p):
    s = sorted(values)
    return s[max(0, math.ceil(p * len(s)) - 1)]


def one_run(binary, scenario, seed, sets, out):
    cmd = [binary, "-q", "run", scenario, "--seed", str(seed), "--out", str(out)]
    for s in sets:
        cmd += ["--set", s]
    subprocess.run(cmd, check=True)
    pods = list(csv.DictReader((out / "pods.csv").open()))
    nodes = [n for n in csv.DictReader((out / "nodes.csv").open()) if n["owner"] not in ("static", "manifest")]
    if len(pods) != 1 or len(nodes) != 1:
        sys.exit(f"seed {seed}: expected one pod and one new node, got {len(pods)} pods, {len(nodes)} nodes")
    pod, node = pods[0], nodes[0]
    decisions = []
    log = out / "decisions.jsonl"
    if log.exists():
        decisions = [json.loads(line) for line in log.open()]
    def f(row, k):
        if not row[k]:
            sys.exit(f"seed {seed}: {k} is empty in {out} (the run ended first; lengthen spec.duration)")
        return float(row[k])

    created, unsched = f(pod, "created_s"), f(pod, "unschedulable_s")
    bound, running = f(pod, "bound_s"), f(pod, "running_s")
    pending, registered, ready = f(node, "launched_s"), f(node, "registered_s"), f(node, "ready_s")
    decided = None
    for d in decisions:
        if d["event"] in ("nodeclaim-created", "scale-up"):
            decided = d["t_s"]
            break
    if decided is None:
        sys.exit(f"seed {seed}: no nodeclaim-created or scale-up in decisions.jsonl")
    return {
        "created → Unschedulable": unsched - created,
        "Unschedulable → decision (nodeclaim-created / scale-up)": decided - unsched,
        "decision → instance pending (solve + CreateFleet / ASG dispatch)": pending - decided,
        "instance pending → kubelet registered": registered - pending,
        "registered → Node Ready": ready - registered,
        "Node Ready → pod bound": bound - ready,
        "pod bound → running": running - bound,
        "TOTAL created → instance pending": pending - created,
        "TOTAL created → Node Ready": ready - created,
        "TOTAL created → pod running (startup latency)": running - created,
        "TOTAL decision → Node Ready": ready - decided,
        "TOTAL instance pending → Node Ready": ready - pending,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("scenario")
    ap.add_argument("--seeds", type=int, default=100, help="seeds 1..N (default 100)")
    ap.add_argument("--set", action="append", default=[], help="passed to run --set; repeatable")
    ap.add_argument("--bin", default="target/release/autoscale-sim", help="the autoscale-sim binary")
    args = ap.parse_args()
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(1, args.seeds + 1):
            for k, v in one_run(args.bin, args.scenario, seed, args.set, Path(tmp) / str(seed)).items():
                rows.setdefault(k, []).append(v)
    print(f"{args.scenario}, seeds 1–{args.seeds}" + "".join(f", --set {s}" for s in args.set))
    print(f"{'stage (s)':66} {'median':>7} {'p10':>7} {'p90':>7} {'max':>7} {'seed 1':>7}")
    for k, vs in rows.items():
        print(
            f"{k:66} {nearest_rank(vs, 0.5):7.1f} {nearest_rank(vs, 0.1):7.1f} "
            f"{nearest_rank(vs, 0.9):7.1f} {max(vs):7.1f} {vs[0]:7.1f}"
        )


if __name__ == "__main__":
    main()
