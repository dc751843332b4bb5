#!/bin/sh
# The seed's ./scripts/integration-tests.sh -u URL -e ENV: a user's request through the
# frontend to the backend, 20 times; any failure fails the tests.
set -eu
while getopts u:e: opt; do
  case $opt in u) url=$OPTARG ;; e) env=$OPTARG ;; *) exit 2 ;; esac
done
python=${PYTHON:-python3}
"$python" - "$url/" "$env" <<'PYEOF'
import sys, urllib.request
for n in range(20):
    try:
        urllib.request.urlopen(sys.argv[1], timeout=5)
    except Exception as exc:
        sys.exit(f"request {n + 1} to {sys.argv[1]} ({sys.argv[2]}) failed: {exc}")
print(f"20 requests to {sys.argv[1]} ({sys.argv[2]}) answered")
PYEOF
