#!/usr/bin/env bash
# Install what promlab needs, and nothing twice: the monitoring and database
# programs from the system's package manager, the Python packages into .venv.
set -euo pipefail
cd "$(dirname "$0")/.."

FOR_TESTS=0
[ "${1:-}" = "--for-tests" ] && FOR_TESTS=1

say() { printf 'promlab install: %s\n' "$*" >&2; }

have() { command -v "$1" >/dev/null 2>&1; }

have_postgres() {
  have postgres || compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null
}

missing_programs() {
  have prometheus || echo prometheus
  have promtool || echo prometheus
  { have prometheus-alertmanager || have alertmanager; } || echo prometheus-alertmanager
  have amtool || echo prometheus-alertmanager
  { have prometheus-node-exporter || have node_exporter; } || echo prometheus-node-exporter
  { have prometheus-postgres-exporter || have postgres_exporter; } \
    || echo prometheus-postgres-exporter
  have_postgres || echo postgresql
  have psql || echo postgresql-client
  if [ "$FOR_TESTS" = 1 ]; then
    # The tests validate docker-compose.yml with compose itself; no engine needed.
    { have docker-compose || docker compose version >/dev/null 2>&1; } || echo docker-compose
  fi
}

install_programs() {
  local packages
  packages=$(missing_programs | sort -u | tr '\n' ' ')
  [ -z "$packages" ] && return 0
  case "$(uname -s)" in
    Darwin)
      say "missing: $packages"
      say "install them with Homebrew:"
      say "  brew install prometheus alertmanager node_exporter postgres_exporter postgresql@15"
      say "then run this again (or use Docker: see README, 'Running with Docker')."
      exit 1 ;;
  esac
  if ! have apt-get; then
    say "missing: $packages"
    say "this machine has no apt-get: install Prometheus 2.42+, Alertmanager 0.25+,"
    say "node_exporter, postgres_exporter and PostgreSQL 13+ with its package manager,"
    say "or use conda (environment.yml) for the Python side and Docker for the stack."
    exit 1
  fi
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    have sudo || { say "need root to install: $packages (no sudo found)"; exit 1; }
    sudo="sudo"
  fi
  say "installing system packages: $packages"
  # shellcheck disable=SC2086
  $sudo apt-get update -q
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends $packages
}

python_bin() {
  for candidate in python3.13 python3.12 python3.11 python3; do
    if have "$candidate" && "$candidate" -c \
        'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
      echo "$candidate"
      return 0
    fi
  done
  say "Python 3.11 or newer is needed; found $(python3 --version 2>&1 || echo none)."
  say "Debian/Ubuntu: apt-get install python3 python3-venv; macOS: brew install python@3.12"
  exit 1
}

install_python() {
  local stamp=.venv/.promlab-installed wanted
  wanted=$(sha256sum pyproject.toml | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ] && [ -x .venv/bin/python ]; then
    return 0
  fi
  if [ ! -x .venv/bin/python ]; then
    local py
    py=$(python_bin)
    say "creating .venv with $py"
    "$py" -m venv .venv || {
      say "could not create a virtual environment: apt-get install python3-venv"
      exit 1
    }
  fi
  say "installing Python packages into .venv (about a minute the first time)"
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]'
  echo "$wanted" >"$stamp"
}

install_programs
install_python
