"""`runwright import` is linear in its input: time per table row as the table grows.

Issue 12 found the importer quadratic in threshold-table rows (20,000 rows timed out): each
draft check's name was found by counting up from 2 through every name taken, and the YAML
was emitted as one document by the pure-Python emitter. A generated Markdown runbook with
N rows of thresholds (two draft checks per row) is imported in-process for growing N; the
reference, in the same invocation, is the same runbook dumped as one YAML document (how the
importer wrote it before). Printed per size: ms in total and microseconds per row for each,
then the verdict: per-row time at the largest size within 2x of the smallest.

    PYTHONPATH=src python benchmarks/import_rows.py [--sizes 2500,5000,10000,20000]
"""

from __future__ import annotations

import argparse
import time

import yaml

from runwright.model.importer import _Dumper, import_markdown


def markdown(rows: int) -> str:
    table = "\n".join(
        f"| error rate | > {n}.5% | > {n + 5}% for {n % 9 + 1} minutes |" for n in range(rows)
    )
    return (
        "# Generated\n\n## Deploy\n\n```sh\necho hi\n```\n\n## Monitoring\n\n"
        "| Metric | Warning | Critical |\n|---|---|---|\n" + table + "\n"
    )


def measure(rows: int) -> tuple[float, float]:
    text = markdown(rows)
    start = time.perf_counter()
    result = import_markdown(text, "generated.md")
    result.yaml("generated.md")
    ours = time.perf_counter() - start
    start = time.perf_counter()
    result = import_markdown(text, "generated.md")
    yaml.dump(result.runbook, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    reference = time.perf_counter() - start
    return ours, reference


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="2500,5000,10000,20000")
    sizes = [int(s) for s in parser.parse_args().sizes.split(",")]
    print(f"{'rows':>7} {'import ms':>10} {'us/row':>8}   {'one-piece dump ms':>17} {'us/row':>8}")
    per_row = []
    for rows in sizes:
        ours, reference = measure(rows)
        per_row.append(ours / rows)
        print(
            f"{rows:>7} {ours * 1000:>10.0f} {ours / rows * 1e6:>8.0f}   "
            f"{reference * 1000:>17.0f} {reference / rows * 1e6:>8.0f}"
        )
    growth = per_row[-1] / per_row[0]
    verdict = "linear" if growth <= 2.0 else "NOT linear"
    print(f"per-row time, {sizes[-1]} vs {sizes[0]} rows: {growth:.2f}x -> {verdict}")


if __name__ == "__main__":
    main()
