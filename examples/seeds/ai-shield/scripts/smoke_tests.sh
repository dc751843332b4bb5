#!/bin/sh
# The seed's ./scripts/smoke_tests.sh: each endpoint must answer 200 (health, the API through
# the backend's router, the frontend through its router).
#   smoke_tests.sh BACKEND_URL FRONTEND_URL
set -eu
python=${PYTHON:-python3}
for url in "$1/health" "$1/version" "$2/"; do
  if "$python" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5)' "$url" >/dev/null 2>&1; then
    echo "ok    $url"
  else
    echo "FAIL  $url"
    exit 1
  fi
done
