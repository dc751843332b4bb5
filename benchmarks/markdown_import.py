"""Reading a Markdown runbook stays linear in its size, whatever its sections are.

The reader classifies every heading, splits every shell block, names every step uniquely and
places alternatives behind one choice gate; any of these done with a scan over what came
before makes a long runbook quadratic. This script builds one document of N sections mixing
every pattern (phases, alternatives, troubleshooting, notes, checklists, example output,
watchers, repeated names), reads it at N and at 4N, and prints the time per section beside
the reference: reading the same text with markdown-it-py alone (the floor the reader cannot
go below). Linear means the ratio 4N/N stays near markdown-it's own.

    PYTHONPATH=src .venv/bin/python benchmarks/markdown_import.py [N]
"""

from __future__ import annotations

import sys
import time

from markdown_it import MarkdownIt

from runwright.model.importer import import_markdown

SECTION = """## Deploy part {n}

```bash
# Same name
./deploy.sh {{{{ version }}}} {n}
# Should print: ok
```

### Method 1: helm {n}

```bash
# Same name
helm upgrade app ./chart
```

### Method 2: kubectl {n}

```bash
kubectl logs -f deployment/app
```

Expected output:

```bash
{{"status": "ok"}}
```

- [ ] **Checked** part `{n}`
- [ ] Error rate > 1% for 5 minutes means roll back

### Troubleshooting {n}

```bash
# Same name
kubectl get pods
```

### Quick reference {n}

| Command | Use |
|---|---|
| `kubectl get pods` | list |
"""


def document(sections: int) -> str:
    return "# Big runbook\n\n" + "".join(SECTION.format(n=n) for n in range(sections))


def best(fn: object, text: str, runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn(text)  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 250
    parser = MarkdownIt("commonmark").enable("table")
    rows = []
    for size in (n, 4 * n):
        text = document(size)
        ours = best(lambda t: import_markdown(t, "big.md"), text)
        floor = best(parser.parse, text)
        rows.append((size, len(text.splitlines()), ours, floor))
    for size, lines, ours, floor in rows:
        print(
            f"{size:6d} sections ({lines:6d} lines): import {ours * 1000:8.1f} ms "
            f"({ours / size * 1000:.2f} ms/section); markdown-it alone {floor * 1000:7.1f} ms"
        )
    ratio, floor_ratio = rows[1][2] / rows[0][2], rows[1][3] / rows[0][3]
    verdict = "grows as markdown-it does" if ratio <= 1.25 * floor_ratio else "SUPERLINEAR"
    print(
        f"4x the sections: {ratio:.2f}x the time (markdown-it alone: {floor_ratio:.2f}x): {verdict}"
    )


if __name__ == "__main__":
    main()
