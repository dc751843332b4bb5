#!/bin/sh
# Stand-in for the team's ./scripts/rollback-production.sh, for one service: deploys the
# version that ran before the last deploy again.
#   PORT=8310 STATE=DIR rollback.sh SERVICE
set -eu
service=$1
dir="$STATE/$service"
if [ ! -f "$dir/previous" ]; then
  echo "$service: no previous version: stopping it"
  [ -f "$dir/pid" ] && kill "$(cat "$dir/pid")" 2>/dev/null || true
  rm -f "$dir/pid" "$dir/version"
  exit 0
fi
previous=$(cat "$dir/previous")
# shellcheck disable=SC2046
exec sh "$(dirname "$0")/deploy.sh" "$service" "$previous" $(cat "$dir/previous-args")
