# The two commands: `make lab` opens the workbook, `make test` runs every test.
VENV := .venv
BIN := $(VENV)/bin
# JupyterLab refuses to run as root without this flag.
ROOT_FLAG := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)

.PHONY: lab test install up down status lint format bench

lab: install
	$(BIN)/promlab up
	@echo "JupyterLab on http://127.0.0.1:8888, where the alerts' runbook links point."
	$(BIN)/jupyter lab --notebook-dir=notebooks --ServerApp.ip=127.0.0.1 \
	  --ServerApp.port=8888 --ServerApp.port_retries=0 $(ROOT_FLAG)

test:
	@bash scripts/install.sh --for-tests
	$(BIN)/ruff check .
	$(BIN)/pytest --nbval -p no:cacheprovider tests notebooks solutions

install:
	@bash scripts/install.sh

up: install
	$(BIN)/promlab up

down:
	$(BIN)/promlab down

status:
	$(BIN)/promlab status

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check $$(git ls-files "*.py")

format:
	$(BIN)/ruff format $$(git ls-files "*.py")
	$(BIN)/ruff check --fix .

bench: install
	$(BIN)/python bench/stack_start.py
