"""The cluster scripts in ``deploy/``: a real Slurm runs the README's commands.

``slurm_cluster`` starts a one-node Slurm on this machine from Debian's
``slurm-wlm`` and ``munge`` (``.ci/run`` installs them) with the README's recipe,
``deploy/slurm/single-node.sh``: a munge key and ``munged``, a minimal
``slurm.conf`` whose only node is this host with its own CPUs and memory,
``slurmctld`` and ``slurmd``, all in a temporary folder and on free ports,
stopped at the end with the same script. Running the script again leaves the
running Slurm as it is. Without those programs, or when they do not
start (not root, say), the Slurm test says why and is skipped, except under
``CI=true``, where it fails.

The Slurm test submits the README's two commands over two sample students, one
per shard, one of whom cannot be graded (an unreadable ``timestamp.txt``), and checks
that the scores equal the ones the sample class expects, that the failure ends the
student's array task and the merge job FAILED, naming the student and the cause
in their ``.out`` files, and that after the fix the same commands complete. The two
submit notebook 01 only: what is proved is the plumbing (the array, its CPUs, the
shards, the merge, the failure and the rerun), the same for every notebook; how the
whole sample class grades is the session's serial run's test.

The Kubernetes manifests are rendered by ``deploy/kubernetes/run.sh`` from its
one ``SHARDS`` value and checked against the Kubernetes API schemas
(``kubernetes-validate``, which ships them) and for what the scripts promise: one
pod per shard, no retry of a deterministic failure, a non-root pod, pinned
installs, and failures that reach the exit status.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import NBGRADER_ENV, copy_released, read_scores
from repo_root import REPO_ROOT

from softsign_grader.course import ASSIGNMENT
from softsign_grader.parallel_grading import shard_students
from softsign_grader.sample_class import SUBMISSIONS_FOLDER, build_sample_class

UNDER_CI = os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}
DEPLOY = REPO_ROOT / "deploy"
README = REPO_ROOT / "README.md"

#: Slurm job states after which a job never runs again.
FINAL_STATES = {
    "BOOT_FAIL",
    "CANCELLED",
    "COMPLETED",
    "DEADLINE",
    "FAILED",
    "NODE_FAIL",
    "OUT_OF_MEMORY",
    "PREEMPTED",
    "TIMEOUT",
}

#: Right and wrong work, one student per shard; SKEWED_CLOCK is made ungradable.
SLURM_STUDENTS = ["correct_branches", "mistake_missing_abs"]
SKEWED_CLOCK = "correct_branches"
#: The one notebook the Slurm students submit (the others are "No submitted file").
SLURM_NOTEBOOK = "01_softsign_definition"


# --------------------------------------------------------------------------- a real Slurm


@dataclass
class SlurmCluster:
    """A running one-node Slurm: ``env`` points its client commands at ``conf``."""

    conf: Path
    env: dict[str, str]
    node: str
    cpus: int
    options: list[str]  # single-node.sh's options for this cluster

    def run(self, *command: str, cwd: Path | None = None) -> str:
        """Run a Slurm client command against this cluster and return its output."""
        result = subprocess.run(
            command, cwd=cwd, env=self.env, capture_output=True, text=True, timeout=60, check=False
        )
        if result.returncode:
            raise AssertionError(f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}")
        return result.stdout

    def jobs(self, job_id: str) -> list[dict[str, str]]:
        """``scontrol show job``: one dict per job (per array task), fields by name."""
        text = self.run("scontrol", "--oneliner", "show", "job", job_id)
        return [
            dict(field.split("=", 1) for field in line.split() if "=" in field)
            for line in text.splitlines()
            if line.strip()
        ]

    def wait(self, job_ids: list[str], timeout: float) -> dict[str, list[dict[str, str]]]:
        """Wait until every job (every array task) has ended; return their records."""
        deadline = time.monotonic() + timeout
        while True:
            records = {job: self.jobs(job) for job in job_ids}
            if all(r["JobState"] in FINAL_STATES for rs in records.values() for r in rs):
                return records
            if time.monotonic() > deadline:
                states = "\n".join(
                    f"  {r['JobId']}: {r['JobState']} ({r.get('Reason')})"
                    for rs in records.values()
                    for r in rs
                )
                raise AssertionError(f"Slurm jobs still not done after {timeout:g} s:\n{states}")
            time.sleep(2)


def _free_ports(count: int) -> list[int]:
    """``count`` different TCP ports that nothing listens on now."""
    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [int(probe.getsockname()[1]) for probe in probes]
    finally:
        for probe in probes:
            probe.close()


#: The recipe the README gives for a one-node Slurm (start, stop).
SINGLE_NODE = DEPLOY / "slurm" / "single-node.sh"


def _slurm_missing() -> str | None:
    programs = ["munged", "slurmctld", "slurmd", "sbatch", "scontrol", "sinfo", "scancel"]
    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    missing = [program for program in programs if not shutil.which(program, path=search)]
    if missing:
        return (
            f"Slurm is not installed ({', '.join(missing)} missing; "
            "apt-get install slurm-wlm munge)"
        )
    if os.geteuid() != 0:
        return "slurmd must run as root to start jobs, and this test runs as another user"
    return None


def _single_node(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run ``deploy/slurm/single-node.sh`` with ``args``."""
    return subprocess.run(
        [str(SINGLE_NODE), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmCluster]:
    """Start munged, slurmctld and slurmd for one node, this host, with the README's
    ``deploy/slurm/single-node.sh`` in a scratch folder on free ports; stop them afterwards.
    """
    problem = _slurm_missing()
    if problem:
        if UNDER_CI:
            pytest.fail(f"the Slurm test cannot run under CI: {problem}", pytrace=False)
        pytest.skip(problem)
    root = tmp_path_factory.mktemp("slurm")
    ctld_port, slurmd_port = _free_ports(2)
    options = ["--dir", str(root), "--ctld-port", str(ctld_port), "--slurmd-port", str(slurmd_port)]
    env = {**os.environ, **NBGRADER_ENV, "SLURM_CONF": str(root / "slurm.conf")}
    env["PATH"] = env["PATH"] + os.pathsep + os.pathsep.join(["/usr/sbin", "/sbin"])
    try:
        started = _single_node("start", *options, env=env)
        if started.returncode:
            message = f"Slurm could not start on this machine:\n{started.stdout}{started.stderr}"
            if UNDER_CI:
                pytest.fail(message, pytrace=False)
            pytest.skip(message)
        print(started.stdout, end="")
        conf = (root / "slurm.conf").read_text()
        node = re.search(r"^NodeName=(\S+)", conf, re.MULTILINE)
        cpus = re.search(r"^NodeName=.* CPUs=(\d+)", conf, re.MULTILINE)
        assert node, conf
        assert cpus, conf
        yield SlurmCluster(root / "slurm.conf", env, node.group(1), int(cpus.group(1)), options)
    finally:
        subprocess.run(
            ["scancel", "--partition=softsign"], env=env, capture_output=True, check=False
        )
        stopped = _single_node("stop", *options, env=env)
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr


@pytest.mark.slow
def test_the_single_node_recipe_runs_again_without_restarting(slurm_cluster):
    """Starting the running Slurm again keeps its key, its slurm.conf and its daemons."""
    conf = slurm_cluster.conf.read_text()
    again = _single_node("start", *slurm_cluster.options, env=slurm_cluster.env)
    assert again.returncode == 0, again.stdout + again.stderr
    for name in ("munged", "slurmctld", "slurmd"):
        assert f"{name} already running" in again.stdout
    assert "kept the munge key" in again.stdout
    assert f"node {slurm_cluster.node} is idle" in again.stdout
    assert slurm_cluster.conf.read_text() == conf
    options = list(slurm_cluster.options)
    options[options.index("--ctld-port") + 1] = str(_free_ports(1)[0])
    moved = _single_node("start", *options, env=slurm_cluster.env)
    assert moved.returncode == 1
    assert "would change" in moved.stderr
    assert "stop" in moved.stderr
    assert slurm_cluster.conf.read_text() == conf


# --------------------------------------------------------------------------- the README's commands


def readme_block(containing: str) -> str:
    """The README's fenced ``bash`` block that contains ``containing``."""
    blocks = re.findall(r"^\s*```bash\n(.*?)^\s*```", README.read_text(), re.MULTILINE | re.DOTALL)
    matches = [block for block in blocks if containing in block]
    assert len(matches) == 1, f"expected one README bash block with {containing!r}"
    return "\n".join(line.strip() for line in matches[0].splitlines())


def slurm_commands(shards: int, cpus: int) -> str:
    """The README's Slurm commands, with its example shard and CPU counts replaced."""
    block = readme_block("deploy/slurm/grade.sbatch")
    settings = re.compile(r"^shards=\d+ cpus=\d+.*$", re.MULTILINE)
    assert settings.search(block), "the README's Slurm block starts with `shards=N cpus=M`"
    return settings.sub(f"shards={shards} cpus={cpus}", block)


def submit(cluster: SlurmCluster, course: Path, shards: int, cpus: int) -> tuple[str, str]:
    """Run the README's Slurm commands in ``course``; return the array and merge job ids."""
    script = f'set -euo pipefail\n{slurm_commands(shards, cpus)}\necho "array job $job"\n'
    result = subprocess.run(
        ["bash", "-c", script],
        cwd=course,
        env=cluster.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    array = re.search(r"^array job (\d+)$", result.stdout, re.MULTILINE)
    merge = re.search(r"^Submitted batch job (\d+)$", result.stdout, re.MULTILINE)
    assert array, result.stdout
    assert merge, result.stdout
    return array.group(1), merge.group(1)


def task_states(records: list[dict[str, str]]) -> dict[int, tuple[str, str]]:
    """Array task id -> (JobState, ExitCode)."""
    return {int(r["ArrayTaskId"]): (r["JobState"], r["ExitCode"]) for r in records}


def job_output(record: dict[str, str]) -> str:
    """What a finished Slurm job wrote to its ``--output`` file."""
    return Path(record["StdOut"]).read_text(errors="replace") if "StdOut" in record else ""


def graded_scores(course: Path, expected: dict[str, dict[str, float]]) -> dict:
    """The gradebook's score of every cell ``expected`` names, student by student."""
    scores = read_scores(course)
    return {
        student: {cell: scores[student].get(cell) for cell in cells}
        for student, cells in expected.items()
        if student in scores
    }


@pytest.fixture(scope="module")
def slurm_course(
    tmp_path_factory: pytest.TempPathFactory, released_template: Path
) -> tuple[Path, dict]:
    """A released course with two sample students, one of whom cannot be graded."""
    base = tmp_path_factory.mktemp("slurm-course")
    course = copy_released(released_template, base / "course")
    # The sample students themselves, submitting notebook 01 only.
    others = sorted(
        path.stem
        for path in (course / "solutions" / ASSIGNMENT).glob("*.ipynb")
        if path.stem != SLURM_NOTEBOOK
    )
    assert others, "the release has one notebook only"
    submissions = base / "submissions"
    submissions.mkdir()
    for student in SLURM_STUDENTS:
        text = (REPO_ROOT / SUBMISSIONS_FOLDER / f"{student}.toml").read_text()
        assert "[actions]" not in text, f"{student} has actions of its own"
        (submissions / f"{student}.toml").write_text(
            f"{text}\n[actions]\nmissing = {json.dumps(others)}\n"
        )
    expected = build_sample_class(course, SLURM_STUDENTS, submissions=submissions)
    assert all(path.stem == SLURM_NOTEBOOK for path in course.glob("submitted/*/*/*.ipynb"))
    (course / "submitted" / SKEWED_CLOCK / ASSIGNMENT / "timestamp.txt").write_text("not a time\n")
    # The course folder is this repository: deploy/ beside nbgrader_config.py, and the
    # .venv/bin/softsign-grade that grade.sbatch runs, as after `make install`.
    (course / "deploy").symlink_to(DEPLOY, target_is_directory=True)
    (course / ".venv").symlink_to(Path(sys.executable).parent.parent, target_is_directory=True)
    return course, expected


@pytest.mark.slow
def test_slurm_runs_the_readme_commands_and_failures_show(slurm_cluster, slurm_course):
    course, expected = slurm_course
    shards = 2
    cpus = max(1, slurm_cluster.cpus // shards)  # both tasks fit on the node at once
    failing_shard = next(
        index
        for index in range(1, shards + 1)
        if SKEWED_CLOCK in shard_students(sorted(SLURM_STUDENTS), index, shards)
    )

    started = time.monotonic()
    array, merge = submit(slurm_cluster, course, shards, cpus)
    records = slurm_cluster.wait([array, merge], timeout=1800)
    wall = time.monotonic() - started
    print(f"\nSlurm: {len(SLURM_STUDENTS)} students, {shards} shards x {cpus} CPU(s): {wall:.1f} s")
    tasks = {int(r["ArrayTaskId"]): r for r in records[array]}
    assert set(tasks) == set(range(1, shards + 1))
    for index, record in tasks.items():
        assert record["NumCPUs"] == str(cpus), record  # --cpus-per-task reached the task
        log = job_output(record)
        students = shard_students(sorted(SLURM_STUDENTS), index, shards)
        workers = min(cpus, len(students))
        assert f"with {workers} worker{'s' if workers != 1 else ''}" in log, log  # --jobs
        if index == failing_shard:
            assert (record["JobState"], record["ExitCode"]) == ("FAILED", "1:0"), log
            reason = re.search(rf"^Failed:\n  ({SKEWED_CLOCK}  \S.*)$", log, re.MULTILINE)
            assert reason, log  # the student, and why (whatever nbgrader said)
        else:
            assert (record["JobState"], record["ExitCode"]) == ("COMPLETED", "0:0"), log
            assert "Failed:" not in log, log
    (merge_record,) = records[merge]
    merge_log = job_output(merge_record)
    assert merge_record["NumCPUs"] == "1", merge_record
    assert (merge_record["JobState"], merge_record["ExitCode"]) == ("FAILED", "1:0"), merge_log
    assert f"graded {len(SLURM_STUDENTS) - 1}, failed 1" in merge_log, merge_log
    assert f"Failed:\n  {reason.group(1)}\n" in merge_log, merge_log
    graded = {s: cells for s, cells in expected.items() if s != SKEWED_CLOCK}
    assert graded_scores(course, expected) == graded  # the others are merged, and right

    # The fix, and the same commands again: only the failed student is graded.
    (course / "submitted" / SKEWED_CLOCK / ASSIGNMENT / "timestamp.txt").unlink()
    array, merge = submit(slurm_cluster, course, shards, cpus)
    records = slurm_cluster.wait([array, merge], timeout=1800)
    states = task_states(records[array])
    assert states == dict.fromkeys(range(1, shards + 1), ("COMPLETED", "0:0")), states
    (merge_record,) = records[merge]
    merge_log = job_output(merge_record)
    assert (merge_record["JobState"], merge_record["ExitCode"]) == ("COMPLETED", "0:0"), merge_log
    assert f"graded 1, failed 0, unchanged {len(SLURM_STUDENTS) - 1}" in merge_log, merge_log
    assert graded_scores(course, expected) == expected


def sbatch_options(script: Path) -> dict[str, str]:
    """The ``#SBATCH --name=value`` lines of a batch script."""
    pattern = re.compile(r"^#SBATCH --([\w-]+)(?:=(\S+))?", re.MULTILINE)
    return {name: value for name, value in pattern.findall(script.read_text())}


def test_sbatch_scripts_fit_a_small_node():
    grade = sbatch_options(DEPLOY / "slurm" / "grade.sbatch")
    assert "cpus-per-task" not in grade  # the one flag to set, on the sbatch command line
    assert grade["output"].endswith("%A_%a.out")
    merge = sbatch_options(DEPLOY / "slurm" / "merge.sbatch")
    assert merge["cpus-per-task"] == "1"
    assert merge["mem"] in {"1G", "2G"}
    assert "--dependency=afterany:" in readme_block("deploy/slurm/grade.sbatch")


def test_slurm_output_files_are_git_ignored():
    patterns = [
        line.strip()
        for line in (REPO_ROOT / ".gitignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for name in ("grade.sbatch", "merge.sbatch"):
        pattern = sbatch_options(DEPLOY / "slurm" / name)["output"]
        example = pattern.replace("%A", "12").replace("%a", "3").replace("%j", "15")
        assert "%" not in example, pattern
        assert any(fnmatch.fnmatchcase(example, p) for p in patterns), f"{example} not ignored"


# --------------------------------------------------------------------------- Kubernetes

RUN_SH = DEPLOY / "kubernetes" / "run.sh"


def render(shards: int, assignment: str = ASSIGNMENT) -> list[dict]:
    """``run.sh render``: the two manifests filled in for ``shards`` shards."""
    yaml = pytest.importorskip("yaml")
    result = subprocess.run(
        ["bash", str(RUN_SH), "render"],
        env={**os.environ, "SHARDS": str(shards), "ASSIGNMENT": assignment},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    manifest_lines = [
        line for line in result.stdout.splitlines() if not line.lstrip().startswith("#")
    ]
    left = [line for line in manifest_lines if "${" in line]
    assert not left, f"placeholders left unfilled: {left}"
    documents = [d for d in yaml.safe_load_all(result.stdout) if d]
    assert [(d["kind"], d["metadata"]["name"]) for d in documents] == [
        ("Job", "softsign-grade"),
        ("Job", "softsign-grade-merge"),
    ]
    return documents


def container(job: dict) -> dict:
    (only,) = job["spec"]["template"]["spec"]["containers"]
    return only


def env_of(job: dict) -> dict[str, object]:
    return {
        item["name"]: item.get("value", item.get("valueFrom")) for item in container(job)["env"]
    }


def script_of(job: dict) -> str:
    spec = container(job)
    assert spec["command"] == ["bash", "-c"]
    return spec["args"][0]


@pytest.mark.parametrize("shards", [1, 5])
def test_the_shard_count_has_one_place(shards):
    grade, merge = render(shards, "week2")
    spec = grade["spec"]
    assert spec["completionMode"] == "Indexed"
    assert spec["completions"] == spec["parallelism"] == shards
    assert env_of(grade)["SHARDS"] == env_of(merge)["SHARDS"] == str(shards)
    assert env_of(grade)["ASSIGNMENT"] == env_of(merge)["ASSIGNMENT"] == "week2"
    assert '--shard "$((JOB_COMPLETION_INDEX + 1))/$SHARDS"' in script_of(grade)
    assert '--shards "$SHARDS"' in script_of(merge)
    # The workers follow the CPU request, written once.
    jobs = env_of(grade)["JOBS"]
    assert isinstance(jobs, dict)
    assert jobs["resourceFieldRef"]["resource"] == "requests.cpu"
    assert '--jobs "$JOBS"' in script_of(grade)
    for name in ("grade-job.yaml", "merge-job.yaml"):
        text = (DEPLOY / "kubernetes" / name).read_text()
        assert not re.search(r"^\s*(completions|parallelism):\s*\d", text, re.MULTILINE)


def test_run_sh_refuses_bad_settings():
    for settings in ({"SHARDS": "0"}, {"SHARDS": "eight"}, {"ASSIGNMENT": "a/b"}):
        result = subprocess.run(
            ["bash", str(RUN_SH), "render"],
            env={**os.environ, **settings},
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert result.returncode == 2, settings
        assert next(iter(settings)) in result.stderr
        assert result.stdout == ""


@pytest.mark.parametrize("version", ["1.29.0", "latest"])
def test_manifests_pass_the_kubernetes_schemas(version):
    try:
        import kubernetes_validate
    except ImportError:
        if UNDER_CI:
            pytest.fail("kubernetes-validate is not installed (the test extra has it)")
        pytest.skip("kubernetes-validate is not installed (pip install -e '.[test]')")
    if version == "latest":
        version = kubernetes_validate.latest_version()
    for document in render(3):
        kubernetes_validate.validate(document, version, strict=True)  # raises when invalid


def test_pods_run_as_a_user_and_install_pinned_versions():
    for job in render(2):
        pod = job["spec"]["template"]["spec"]
        security = pod["securityContext"]
        assert security["runAsNonRoot"] is True
        assert security["runAsUser"] > 0
        assert security["runAsGroup"] > 0
        assert security["fsGroup"] == security["runAsGroup"]
        assert container(job)["securityContext"]["allowPrivilegeEscalation"] is False
        assert env_of(job)["HOME"] != "/"  # a writable home for Jupyter's runtime files
        script = script_of(job)
        installs = [line.strip() for line in script.splitlines() if "pip install" in line]
        assert installs, script
        for line in installs:
            assert re.search(r"pip install .*-c \S*constraints\.txt", line), line
        (copy,) = [line.split()[2:-1] for line in script.splitlines() if "cp -r" in line]
        for name in copy:  # the files a build of the package needs, all in the repository
            assert (REPO_ROOT / name).exists(), f"{name}, copied by {job['metadata']['name']}"


def test_failures_reach_the_job_state():
    grade, merge = render(4)
    spec = grade["spec"]
    # A deterministic failure (1: students failed, 2: bad course) fails that index now,
    # not after retries, and the others go on.
    assert spec["backoffLimitPerIndex"] >= 0
    fail_index = [r for r in spec["podFailurePolicy"]["rules"] if r["action"] == "FailIndex"]
    assert fail_index, spec["podFailurePolicy"]
    codes = fail_index[0]["onExitCodes"]
    assert codes["containerName"] == container(grade)["name"]
    assert codes["operator"] == "In"
    assert {1, 2} <= set(codes["values"])
    assert grade["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert merge["spec"]["backoffLimit"] == 0
    for job in (grade, merge):
        script = script_of(job)
        assert script.startswith("set -euo pipefail\n")
        command = script[script.index("exec /tmp/venv/bin/softsign-grade") :]
        assert "||" not in command, command  # nothing swallows the grader's exit status


#: A stand-in for kubectl (there is no cluster here) that logs its calls, reports the
#: conditions given in FAKE_GRADE / FAKE_MERGE, and prints a failed pod's log.
FAKE_KUBECTL = """#!/bin/bash
echo "kubectl $*" >> "$FAKE_LOG"
case "$1 $2" in
    "apply -f") grep -o '^  name: .*' >> "$FAKE_LOG" ;;
    "get job")
        case "$3" in
            softsign-grade) state="$FAKE_GRADE" ;;
            *) state="$FAKE_MERGE" ;;
        esac
        if [[ "$*" == *failedIndexes* ]]; then echo "[1]"; else echo "$state "; fi ;;
    "get pods") echo "pod/softsign-grade-1-x" ;;
    logs*) echo "log of $2: Failed: ada  NotJSONError" ;;
esac
"""


@pytest.mark.parametrize(
    ("grade_state", "merge_state", "status"),
    [("Complete", "Complete", 0), ("Failed", "Failed", 1), ("Complete", "Failed", 1)],
)
def test_run_sh_waits_for_failure_too_and_says_so(tmp_path, grade_state, merge_state, status):
    (tmp_path / "kubectl").write_text(FAKE_KUBECTL)
    (tmp_path / "kubectl").chmod(0o755)
    log = tmp_path / "calls.log"
    env = {
        **os.environ,
        "PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}",
        "FAKE_LOG": str(log),
        "FAKE_GRADE": grade_state,
        "FAKE_MERGE": merge_state,
        "SHARDS": "2",
    }
    result = subprocess.run(
        ["bash", str(RUN_SH)], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == status, result.stdout + result.stderr
    calls = log.read_text().splitlines()
    delete = next(i for i, line in enumerate(calls) if line.startswith("kubectl delete job"))
    applies = [i for i, line in enumerate(calls) if line.startswith("kubectl apply")]
    assert len(applies) == 2  # the merge runs after a failed grading too
    assert delete < applies[0]  # a re-run first removes the last run's Jobs
    assert "  name: softsign-grade" in calls[applies[0] + 1]
    assert "  name: softsign-grade-merge" in calls[applies[1] + 1]
    if grade_state == "Failed":
        assert "log of pod/softsign-grade-1-x: Failed: ada" in result.stderr
    if status:
        assert "FAILED" in result.stderr
    else:
        assert "every student graded" in result.stdout
