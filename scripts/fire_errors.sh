#!/usr/bin/env bash
# Send traffic to the lab from a terminal, with errors injected on the way:
# the shell twin of the notebooks' traffic panel. Every flag of
# `promlab traffic` works here and wins over the defaults below.
#
#   scripts/fire_errors.sh                        # web, 10 req/s, 30% errors, 2 min
#   scripts/fire_errors.sh --target api --rate 5 --error-ratio 0.5 --duration 0
#   scripts/fire_errors.sh --error-ratio 0 --mix normal=1,slow=0.3,db_heavy=0.2
#
# Faults set through --error-ratio / --latency are healed when it ends (Ctrl-C too).
# Stack options go first: PROMLAB_NAME=other scripts/fire_errors.sh ...
set -euo pipefail
cd "$(dirname "$0")/.."

DEFAULTS=(--error-ratio 0.3 --duration 120 --mix normal=1,db_heavy=0.2)

promlab=.venv/bin/promlab
if [[ ! -x $promlab ]]; then
  echo "fire_errors: $promlab not found; run 'make install' first" >&2
  exit 1
fi

if [[ " $* " == *" --help "* || " $* " == *" -h "* ]]; then
  sed -n '2,11p' scripts/fire_errors.sh | sed 's/^# \{0,1\}//'
  echo
  echo "Defaults here: ${DEFAULTS[*]}; every flag of 'promlab traffic' below:"
  echo
  exec "$promlab" traffic --help
fi

exec "$promlab" --name "${PROMLAB_NAME:-default}" traffic "${DEFAULTS[@]}" "$@"
