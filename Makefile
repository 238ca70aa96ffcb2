# One entry point for students, instructors and contributors.
#   make lab     create .venv, install the course, open JupyterLab on the student notebooks
#   make test    create .venv if needed, add the developer tools, run everything: lint, the
#                whole pytest suite, nbval (about 10 minutes on 2 cores)
#   make check   the fast lane: unit, property and doctests and the notebook contract (~30 s)
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# What students and instructors need (make lab, grade, ...); the developer tools on top of it
# (make test, check, lint): the dev stamp implies the lab one.
LAB_STAMP := $(VENV)/.installed-lab
DEV_STAMP := $(VENV)/.installed-dev
ASSIGNMENT ?= softsign
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
# Tools started by name (nbgrader's alembic, jupyter's kernels) come from .venv first.
export PATH := $(abspath $(BIN)):$(PATH)
# JupyterLab refuses to run as root unless told so; laptops do not need it.
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)
# nbval re-executes every instructor notebook and compares its outputs with the committed ones.
NBVAL := --nbval --nbval-current-env --nbval-sanitize-with=tests/nbval_sanitize.cfg \
	--nbval-cell-timeout=120
# The fast lane leaves out the integration tests (see the markers in pyproject.toml).
FAST := -m "not slow and not browser"

.PHONY: lab student-release test check install constraints notebooks check-notebooks grade grade-demo report dance benchmark lint format clean

# The versions in constraints.txt are the ones the whole suite last passed with.
define new_venv
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools
endef

# pip installs without compiling (it compiles on one core); compileall then compiles
# site-packages on every core, so that every import finds bytecode from the start, the
# sandboxed grading kernels' included (they cannot write it).
define pip_install
	$(BIN)/python -m pip install --quiet --no-compile -c constraints.txt -e $(1)
	$(BIN)/python -m compileall -q -j 0 "$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')"
endef

$(LAB_STAMP): pyproject.toml constraints.txt
	$(new_venv)
	$(call pip_install,.)
	@touch $(LAB_STAMP)

# One pip run installs the course and the developer tools (one resolve, not two), and
# counts for both stamps.
$(DEV_STAMP): pyproject.toml constraints.txt
	$(new_venv)
	$(call pip_install,".[dev]")
	@touch $(LAB_STAMP) $(DEV_STAMP)

install: $(DEV_STAMP)

# The server root is the course root, so nbgrader's formgrader (course root = this folder) is
# under it; JupyterLab opens on the first student notebook, its file browser on their folder.
LAB_URL ?= /lab/tree/$(firstword $(sort $(wildcard notebooks/$(ASSIGNMENT)/*.ipynb)))
lab: $(LAB_STAMP)
	$(BIN)/jupyter lab --ServerApp.root_dir=. --LabApp.default_url=$(LAB_URL) $(ALLOW_ROOT) $(LAB_ARGS)

# What students receive: dist/student-release/ and its .zip, notebooks and library without
# solutions/ or the instructor tooling (RELEASE_ARGS="--branch NAME" commits it on a branch too).
student-release: $(LAB_STAMP)
	$(BIN)/python -m softsign_grader.student_release $(RELEASE_ARGS)

# The whole suite runs on every core too: each file (test module, notebook) goes whole to one
# worker, so its module fixtures and nbval's kernel are set up once (tests/conftest.py);
# `make test PYTEST_ARGS=-n0` runs it in one process. One worker more than cores: the workers
# spend part of their time waiting (for kernels, time limits, the shared graded class).
TEST_WORKERS ?= $(shell echo $$(( $$(nproc 2>/dev/null || echo 2) + 1 )))
# The course's own modules are compiled first: every nbgrader, grader and test process imports
# them, and where PYTHONDONTWRITEBYTECODE is set (some CI images and containers) none would
# otherwise find bytecode, and each would compile them again (about 0.15 s of CPU each).
COMPILE_COURSE := $(BIN)/python -m compileall -q -j 0 source_lib softsign_grader tests
# pytest loads the plugins the suite uses by name. Autoloading would also load anyio's and
# platformdirs' plugins and mark every module of each plugin's package (all of hypothesis)
# for assertion rewriting, which every worker redoes where bytecode is not written.
PYTEST := $(BIN)/python -m pytest --disable-plugin-autoload -p xdist -p timeout -p hypothesispytest
test: lint
	$(COMPILE_COURSE)
	$(PYTEST) -p nbval -n $(TEST_WORKERS) --dist loadscope $(NBVAL) $(PYTEST_ARGS)

# The fast lane runs on every core (pytest-xdist); `make check PYTEST_ARGS=-n0` runs it in one.
# It runs no notebook: nbval's plugin is not loaded.
check: $(DEV_STAMP)
	$(COMPILE_COURSE)
	$(PYTEST) $(FAST) -n auto $(PYTEST_ARGS)

# deptry: every import is a declared dependency ([tool.deptry] in pyproject.toml); then the
# tests, which may also import the test extra (--exclude drops deptry's default "tests").
lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m mypy
	$(BIN)/deptry .
	$(BIN)/deptry tests --exclude '\.venv' --optional-dependencies-dev-groups dev --ignore DEP002

# Pin what .venv has now (run after `make test` passes): a scratch venv installs the course
# with those versions, so constraints.txt lists what the course installs and nothing else.
constraints: $(DEV_STAMP)
	rm -rf $(VENV)-constraints
	$(BIN)/python -m pip freeze --exclude-editable | grep -v ' @ ' > $(VENV)-constraints.txt
	$(PYTHON) -m venv $(VENV)-constraints
	$(VENV)-constraints/bin/python -m pip install --quiet --upgrade pip
	$(VENV)-constraints/bin/python -m pip install --quiet -c $(VENV)-constraints.txt -e ".[dev]"
	{ echo '# The versions `make test` last passed with. Refresh: `make constraints` (README).'; \
	  $(VENV)-constraints/bin/python -m pip freeze --exclude-editable; } > constraints.txt
	rm -rf $(VENV)-constraints $(VENV)-constraints.txt

format: $(DEV_STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Regenerate the student notebooks from the instructor notebooks (never edit notebooks/ by hand),
# then print the words of prose on the core path and in "Going deeper" (benchmarks/words.py).
notebooks: $(LAB_STAMP)
	$(BIN)/python -m softsign_grader.release
	$(BIN)/python benchmarks/words.py

grade: $(LAB_STAMP)
	$(BIN)/softsign-grade $(ASSIGNMENT) --jobs $(JOBS) $(GRADE_ARGS)

grade-demo: $(LAB_STAMP)
	$(BIN)/python -m softsign_grader.demo --jobs $(JOBS)

# The class report of the graded course: reports/$(ASSIGNMENT).html and CSV files beside it.
report: $(LAB_STAMP)
	$(BIN)/softsign-grade report $(ASSIGNMENT)

dance: $(LAB_STAMP)
	$(BIN)/python -m source_lib.dance

benchmark: $(DEV_STAMP)
	$(BIN)/python benchmarks/activations.py
	$(BIN)/python benchmarks/grading.py
	$(BIN)/python benchmarks/report.py
	$(BIN)/python benchmarks/startup.py

clean:
	rm -rf submitted autograded feedback gradebook.db grades.csv reports .grade-demo test-artifacts
