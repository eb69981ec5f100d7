"""Benchmark: the contact-info detector's detection rate, false-positive rate and throughput.

    .venv/bin/python bench/contact_detection.py [--rounds 20]

* **Detection rate**: the evasion table (``bench/data/evasions.py``: every row of the tests'
  table plus the documented known misses) — a row counts as detected when every expected kind
  is found.
* **False-positive rate**: ``bench/data/ordinary_messages.txt``, a few hundred ordinary
  marketplace messages (prices, sizes, dates, times, order and tracking numbers, model
  numbers, measurements) plus the tests' look-alikes — a message counts when anything is found.
* **Throughput**: messages per second over the whole corpus, median of ``--rounds`` passes
  (``detect`` is pure CPU; one webhook calls it once).

The allowlist is ``["whop.com", "shop.example"]`` (what a site with ``SITE_URL`` on
shop.example has). Results go to stdout and ``bench/results/contact_detection.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE / "data")]

import django  # noqa: E402
from evasions import CLEAN, EVASIONS, KNOWN_MISSES  # noqa: E402

# The services package imports models: Django must be set up, though detect() reads nothing.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketplace.settings")
django.setup()

from dm_bridge.services.contact_detection import detect  # noqa: E402

ALLOWED = ["whop.com", "shop.example"]


def run(rounds: int) -> dict[str, Any]:
    table = EVASIONS + KNOWN_MISSES
    rows = []
    for text, kinds in table:
        found = set(detect(text, ALLOWED).kinds)
        rows.append({"input": text, "expected": sorted(kinds), "found": sorted(found)})
    detected = sum(1 for r in rows if set(r["expected"]) <= set(r["found"]))
    corpus = (HERE / "data" / "ordinary_messages.txt").read_text().splitlines()
    ordinary = [line for line in corpus if line.strip()] + CLEAN
    false_positives = [
        {"input": text, "found": list(detect(text, ALLOWED).kinds)}
        for text in ordinary
        if detect(text, ALLOWED)
    ]
    everything = [t for t, _ in table] + ordinary
    rates = []
    for _ in range(rounds):
        started = time.perf_counter()
        for text in everything:
            detect(text, ALLOWED)
        rates.append(len(everything) / (time.perf_counter() - started))
    return {
        "python": platform.python_version(),
        "evasions": len(rows),
        "detected": detected,
        "detection_rate": round(detected / len(rows), 4),
        "ordinary_messages": len(ordinary),
        "false_positives": len(false_positives),
        "false_positive_rate": round(len(false_positives) / len(ordinary), 4),
        "messages_per_second": round(statistics.median(rates)),
        "table": rows,
        "false_positive_examples": false_positives,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    result = run(parser.parse_args().rounds)
    width = max(len(r["input"]) for r in result["table"])
    print(f"{'input':<{width}}  expected        found")
    for r in result["table"]:
        mark = "" if set(r["expected"]) <= set(r["found"]) else "  MISSED"
        exp, got = ",".join(r["expected"]), ",".join(r["found"]) or "-"
        print(f"{r['input']:<{width}}  {exp:<14}  {got}{mark}")
    print(
        f"\ndetection rate {result['detected']}/{result['evasions']} "
        f"({result['detection_rate']:.1%}); false positives {result['false_positives']}/"
        f"{result['ordinary_messages']} ({result['false_positive_rate']:.2%}); "
        f"{result['messages_per_second']:,} messages/s"
    )
    out = HERE / "results" / "contact_detection.json"
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(f"written to {out.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
