# One entry point for students, instructors and contributors.
#   make lab     create .venv, install everything, open JupyterLab on the student notebooks
#   make test    create .venv if needed, run the whole test suite
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ASSIGNMENT ?= softsign
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
# Tools started by name (nbgrader's alembic, jupyter's kernels) come from .venv first.
export PATH := $(abspath $(BIN)):$(PATH)
# JupyterLab refuses to run as root unless told so; laptops do not need it.
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: lab test install notebooks check-notebooks grade grade-demo report dance benchmark lint format clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	@touch $(STAMP)

install: $(STAMP)

lab: $(STAMP)
	$(BIN)/jupyter lab --ServerApp.root_dir=notebooks/softsign $(ALLOW_ROOT) $(LAB_ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Regenerate the student notebooks from the instructor notebooks (never edit notebooks/ by hand).
notebooks: $(STAMP)
	$(BIN)/python -m source_lib.instructor.release

grade: $(STAMP)
	$(BIN)/softsign-grade $(ASSIGNMENT) --jobs $(JOBS) $(GRADE_ARGS)

grade-demo: $(STAMP)
	$(BIN)/python -m source_lib.instructor.demo

# The class report of the graded course: reports/$(ASSIGNMENT).html and CSV files beside it.
report: $(STAMP)
	$(BIN)/softsign-grade report $(ASSIGNMENT)

dance: $(STAMP)
	$(BIN)/python -m source_lib.dance

benchmark: $(STAMP)
	$(BIN)/python benchmarks/activations.py
	$(BIN)/python benchmarks/grading.py
	$(BIN)/python benchmarks/report.py

clean:
	rm -rf submitted autograded feedback gradebook.db grades.csv reports .grade-demo test-artifacts
