#!/bin/sh
# The seed's ./scripts/smoke-tests.sh -u URL -e ENV: health, readiness and version answer.
set -eu
while getopts u:e: opt; do
  case $opt in u) url=$OPTARG ;; e) env=$OPTARG ;; *) exit 2 ;; esac
done
python=${PYTHON:-python3}
for path in /health /version; do
  "$python" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5)' "$url$path"
  echo "ok  $env $url$path"
done
