"""The judge: checks planned and replayed outside the kernel agree with the checks themselves.

:mod:`softsign_grader.judge` never runs a check in the student's kernel. It
plans the check here, sends the calls as plain data, and replays the check on
the outcomes the kernel returns. These tests play the kernel's part in this
process (decode the calls, call the function with the collector, encode the
outcomes, through JSON, as the wire carries them), so they can show, for every
right answer and common mistake, that the judge reaches the same verdict and
the same message as the check run directly; and that the wire refuses
anything but plain values. ``test_grading.py`` and ``test_adversarial.py``
do the same through real nbgrader and a real, sandboxed kernel.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from test_checks import RIGHT, WRONG

from softsign_grader.judge import CheckCall, UnjudgeableCell, parse_check_calls
from source_lib.grading import collector
from source_lib.grading.framework import CHECKS, CheckFailure
from source_lib.grading.replay import Planner, Replayer, ReplayMismatch, session
from source_lib.grading.withholding import library_withheld

GROUPS = ("values", "arrays", "hidden_values", "hidden_arrays")


def _kernel(entries: list[dict], func, exercise: str = "") -> list[collector.Outcome]:
    """Play the kernel: run the planned calls on ``func``, return what the judge receives.

    As in the grading sandbox, the library's implementations of ``exercise``'s
    notebook raise the withheld stub's error while ``func`` runs.
    """
    outcomes = []
    for entry in json.loads(json.dumps(entries)):
        args = tuple(collector.decode(arg) for arg in entry["args"])
        kwargs = {key: collector.decode(value) for key, value in entry["kwargs"].items()}
        with library_withheld(exercise):
            outcome = collector.call(func, args, kwargs, 3.0)
        outcomes.append(json.dumps(collector.outcome_to_wire(outcome)))
    return [collector.outcome_from_wire(json.loads(text)) for text in outcomes]


def judge(check, func, group: str, seed: int = 12345) -> str | None:
    """The judge's verdict on ``func``: None for a pass, else the message."""
    planner = Planner(seed, "student_function")
    with session(planner):
        check(None, group)
    replayer = Replayer(seed, _kernel(planner.calls, func, check.exercise))
    try:
        with session(replayer):
            check(None, group)
    except CheckFailure as failure:
        return str(failure)
    assert replayer.used == len(planner.calls)
    return None


def direct(check, func, group: str, seed: int = 12345) -> str | None:
    """The check run directly on ``func`` with the same cases (a seeded session, no kernel)."""

    class Direct(Planner):
        def call(self, name, args, kwargs):
            with library_withheld(name):
                return collector.call(func, args, kwargs, 3.0)

    try:
        with session(Direct(seed, "student_function")):
            check(None, group)
    except CheckFailure as failure:
        return str(failure)
    return None


@pytest.mark.parametrize(
    ("check", "func"),
    [
        pytest.param(c, f, id=f"{c.__name__}-{i}")
        for c, fs in RIGHT.items()
        for i, f in enumerate(fs)
    ],
)
def test_the_judge_passes_every_right_answer(check, func):
    for group in GROUPS:
        assert judge(check, func, group) is None


@pytest.mark.parametrize(
    ("check", "func", "hint"),
    [pytest.param(c, f, h, id=f"{c.__name__}-{i}") for i, (c, f, h) in enumerate(WRONG)],
)
def test_the_judge_fails_every_mistake_with_the_checks_own_message(check, func, hint):
    messages = [judge(check, func, group) for group in GROUPS]
    assert any(message is not None for message in messages)
    assert messages == [direct(check, func, group) for group in GROUPS]
    assert any(hint in message for message in messages if message)


def test_an_input_modified_in_the_kernel_is_seen_by_the_judge():
    def in_place(x):
        x = np.asarray(x, dtype=float)
        np.abs(x, out=x)
        return x / (1 + x)

    message = judge(CHECKS["check_softsign"], in_place, "arrays")
    assert message is not None
    assert "modified its input array x" in message


def test_where_the_kernel_evaluated_f_reaches_the_judge():
    message = judge(
        CHECKS["check_numerical_derivative"],
        lambda f, x, h=1e-5: (f(x + h) - f(x)) / h,
        "values",
    )
    assert message is not None
    assert "forward difference" in message


def test_a_seed_gives_the_same_cases_and_a_new_seed_new_ones():
    def plan(seed):
        planner = Planner(seed, "softsign")
        with session(planner):
            CHECKS["check_softsign"](None, "hidden_arrays")
        return json.dumps(planner.calls)

    assert plan(1) == plan(1)
    assert plan(1) != plan(2)


def test_fewer_answers_than_calls_give_no_verdict():
    planner = Planner(7, "softsign")
    with session(planner):
        CHECKS["check_softsign"](None, "values")
    outcomes = _kernel(planner.calls, lambda x: x / (1 + np.abs(x)))
    with pytest.raises(ReplayMismatch), session(Replayer(7, outcomes[:-1])):
        CHECKS["check_softsign"](None, "values")


# --------------------------------------------------------------------------- the wire


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        3,
        -0.0,
        math.inf,
        1e-310,
        2 + 3j,
        np.float32(0.5),
        np.int8(-3),
        np.array(-0.0),
        np.array([], dtype=np.float16),
        np.arange(6, dtype=np.int64).reshape(2, 3),
        (np.zeros(2), np.ones((1, 1)), np.float64(1.0)),
        [1.0, None],
    ],
    ids=repr,
)
def test_values_survive_the_wire_exactly(value):
    back = collector.decode(json.loads(json.dumps(collector.encode(value))))
    assert type(back) is type(value)
    if isinstance(value, np.ndarray | np.generic):
        assert back.dtype == value.dtype
        assert np.array_equal(back, value)
        assert np.array_equal(np.signbit(back), np.signbit(value))
    elif isinstance(value, float):
        assert math.copysign(1, back) == math.copysign(1, value)
        assert back == value or (math.isnan(back) and math.isnan(value))


def test_read_only_and_strided_inputs_arrive_as_such():
    base = np.arange(12.0)
    view = base[::2]
    view.flags.writeable = False
    back = collector.decode(collector.encode(view))
    assert not back.flags.writeable
    strided = collector.decode(collector.encode(np.arange(12.0)[::2]))
    assert not strided.flags.c_contiguous
    assert np.array_equal(strided, np.arange(12.0)[::2])


def test_objects_cross_only_as_their_type_name():
    class Sneaky:
        def __float__(self):
            return 0.5

    back = collector.decode(collector.encode(Sneaky()))
    assert type(back).__name__ == "Sneaky"
    with pytest.raises(TypeError):
        float(back)


@pytest.mark.parametrize(
    "document",
    [
        {"t": "pickle", "v": "gASV"},
        {"t": "array", "dtype": "|O", "shape": [1], "b": "AAAAAAAAAAA="},
        {"t": "array", "dtype": "<f8", "shape": [2], "b": "AAAAAAAAAAA="},
        {"t": "array", "dtype": "<f8", "shape": [10**9, 10**9], "b": ""},
        {"t": "array", "dtype": "<f8", "shape": [-1], "b": ""},
        {"t": "array", "dtype": "V8", "shape": [1], "b": "AAAAAAAAAAA="},
        {"t": "function", "name": "os.system"},
        {"t": "tuple", "items": [{"t": "tuple", "items": [{"t": "tuple", "items": []}]}]},
        {"t": "scalar", "dtype": "<f8", "b": "AAAA"},
        ["not", "an", "object"],
    ],
)
def test_forged_documents_are_refused(document):
    with pytest.raises(collector.WireError):
        collector.decode(document)


def test_a_forged_outcome_is_refused():
    with pytest.raises(collector.WireError):
        collector.outcome_from_wire({"kind": "passed"})
    with pytest.raises(collector.WireError):
        collector.outcome_from_wire({"kind": "value", "value": {"t": "eval", "v": "1"}})


# --------------------------------------------------------------------------- test cells


def test_test_cells_are_read_as_check_calls():
    source = (
        '"""Check softsign."""\n'
        "from source_lib.grading.exercises import check_softsign\n\n"
        'check_softsign(softsign, "values")\n'
        "### BEGIN HIDDEN TESTS\n"
        'check_softsign(softsign, group="hidden_values")\n'
        "### END HIDDEN TESTS\n"
    )
    assert parse_check_calls(source) == [
        CheckCall("check_softsign", "softsign", "values"),
        CheckCall("check_softsign", "softsign", "hidden_values"),
    ]


@pytest.mark.parametrize(
    "source",
    [
        "assert softsign(0) == 0",
        "check_softsign(softsign, 'values')\nprint('x')",
        "check_unknown(softsign, 'values')",
        "check_softsign(lambda x: x, 'values')",
        "check_softsign(softsign, group)",
        '"""only a docstring"""',
        "check_softsign(softsign, 'values'",
    ],
)
def test_anything_but_check_calls_cannot_be_judged(source):
    with pytest.raises(UnjudgeableCell):
        parse_check_calls(source)


def test_the_graders_fingerprint_follows_the_grading_code(monkeypatch):
    """softsign-grade regrades everyone when a check, a reference or a version changes."""
    import source_lib
    from softsign_grader.judge import grader_fingerprint

    first = grader_fingerprint()
    assert grader_fingerprint() == first
    monkeypatch.setattr(source_lib, "__version__", "0.0.0-fixed-check")
    assert grader_fingerprint() != first


@pytest.mark.parametrize("package", ["source_lib", "softsign_grader"])
def test_a_change_to_either_package_changes_the_graders_fingerprint(
    package: str, tmp_path, monkeypatch
):
    """A fixed check (source_lib) or a fixed grading step (softsign_grader) regrades everyone."""
    import importlib
    import shutil
    from pathlib import Path

    from softsign_grader.judge import grader_fingerprint

    first = grader_fingerprint()
    module = importlib.import_module(package)
    copy = tmp_path / package
    source = Path(str(module.__file__)).parent
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(module, "__file__", str(copy / "__init__.py"))
    assert grader_fingerprint() == first
    with (copy / "__init__.py").open("a", encoding="utf-8") as handle:
        handle.write("\n# a fix\n")
    assert grader_fingerprint() != first


def test_after_a_call_that_ran_out_of_time_the_kernel_runs_no_more(monkeypatch):
    """An endless loop costs one call's time, not one per planned call."""
    import sys
    import types

    published = []
    fake = types.ModuleType("IPython.display")
    fake.publish_display_data = published.append
    monkeypatch.setitem(sys.modules, "IPython.display", fake)
    calls = []

    def endless(x):
        calls.append(x)
        while True:
            pass

    planner = Planner(3, "softsign")
    with session(planner):
        CHECKS["check_softsign"](None, "values")
    request = {"nonce": "n", "time_limit": 0.2, "calls": planner.calls}
    collector.run(json.dumps(request), {"softsign": endless})
    (document,) = published
    outcomes = json.loads(document[collector.MIME_TYPE])["outcomes"]
    assert len(outcomes) == len(planner.calls) > 3
    assert [o["kind"] for o in outcomes] == ["timeout"] * len(outcomes)
    assert len(calls) == 1


def test_a_display_update_never_reaches_a_test_cells_output():
    """A display shown by a test cell's calls is not replaced by a later ``update_display_data``.

    Goes through nbclient's public ``output`` and ``process_message`` only, so an
    nbclient upgrade that changes how display ids are tracked makes it fail loudly.
    """
    import nbformat

    from softsign_grader.judge import JudgedExecute

    ordinary = nbformat.v4.new_code_cell("display(x, display_id='d')")
    test = nbformat.v4.new_code_cell("check_softsign(softsign)")
    test.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": "t", "points": 1}
    executor = JudgedExecute(kernel_manager_class="jupyter_client.manager.KernelManager")
    executor.nb = nbformat.v4.new_notebook(cells=[ordinary, test])
    executor.reset_execution_trackers()
    executor.clear_before_next_output = False  # as execute_cell sets it

    def message(msg_type: str, text: str) -> dict:
        return {
            "msg_type": msg_type,
            "header": {"msg_type": msg_type},
            "parent_header": {"msg_id": "m"},
            "content": {
                "data": {collector.MIME_TYPE: text, "text/plain": text},
                "metadata": {},
                "transient": {"display_id": "d"},
            },
        }

    executor.output(test.outputs, message("display_data", "collected"), "d", 1)
    executor.output(ordinary.outputs, message("display_data", "shown"), "d", 0)
    executor.process_message(message("update_display_data", "updated"), ordinary, 0)
    assert ordinary.outputs[0]["data"]["text/plain"] == "updated"
    assert [output["data"]["text/plain"] for output in test.outputs] == ["collected"]


@pytest.mark.slow
def test_cells_after_the_last_graded_cell_are_not_run(tmp_path):
    """They cannot change a score; the first says why it shows no output, the others nothing."""
    import nbformat

    from softsign_grader.judge import NOT_RUN_AFTER_LAST_GRADED, JudgedExecute

    before = nbformat.v4.new_code_cell("print('before')")
    answer = nbformat.v4.new_markdown_cell("My answer.")
    answer.metadata["nbgrader"] = {"grade": True, "solution": True, "grade_id": "w", "points": 2}
    after = [
        nbformat.v4.new_code_cell("print('after'); open('ran', 'w').write('x')"),
        nbformat.v4.new_markdown_cell("## Going deeper"),
        nbformat.v4.new_code_cell("print('after again')"),
    ]
    notebook = nbformat.v4.new_notebook(cells=[before, answer, *after])
    executor = JudgedExecute(kernel_manager_class="jupyter_client.manager.KernelManager")
    executor.preprocess(notebook, {"metadata": {"path": str(tmp_path)}})
    assert [o.get("text") for o in notebook.cells[0].outputs] == ["before\n"]
    assert [o.get("evalue") for o in notebook.cells[2].outputs] == [NOT_RUN_AFTER_LAST_GRADED]
    assert notebook.cells[4].outputs == []
    assert not (tmp_path / "ran").exists()


@pytest.mark.slow
def test_a_notebook_without_graded_cells_runs_whole(tmp_path):
    import nbformat

    from softsign_grader.judge import JudgedExecute

    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print('all')")])
    JudgedExecute(kernel_manager_class="jupyter_client.manager.KernelManager").preprocess(
        notebook, {"metadata": {"path": str(tmp_path)}}
    )
    assert [o.get("text") for o in notebook.cells[0].outputs] == ["all\n"]
