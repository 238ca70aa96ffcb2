"""Tests for source_lib._validation: what counts as real input, and what the errors say."""

from __future__ import annotations

import fractions

import numpy as np
import pytest

from source_lib._validation import as_float_array, check_out, finish

PREFIX = "must be a real number or an array of real numbers, got "


@pytest.mark.parametrize(
    ("value", "dtype", "scalar"),
    [
        (1.5, np.float64, True),
        (3, np.float64, True),
        (True, np.float64, True),
        (np.float16(1), np.float16, True),
        (np.float32(1), np.float32, True),
        (np.int8(-3), np.float64, True),
        (np.uint64(7), np.float64, True),
        (np.array(2.0), np.float64, False),
        (np.array(2, dtype=np.int16), np.float64, False),
        ([1, 2], np.float64, False),
        ((1.0, 2.0), np.float64, False),
        ([], np.float64, False),
        (np.zeros((2, 0), dtype=np.float32), np.float32, False),
        (np.array([True, False]), np.float64, False),
    ],
)
def test_real_inputs_are_accepted_with_the_right_dtype(value, dtype, scalar):
    array, is_scalar = as_float_array(value)
    assert isinstance(array, np.ndarray)
    assert array.dtype == dtype
    assert is_scalar is scalar
    np.testing.assert_array_equal(array, np.asarray(value, dtype=np.float64))


def test_float_arrays_are_not_copied_but_integers_are_converted():
    x = np.arange(3.0)
    array, _ = as_float_array(x)
    assert array is x
    integers = np.arange(3)
    converted, _ = as_float_array(integers)
    assert not np.shares_memory(converted, integers)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0.5", "got str '0.5'"),
        (b"0.5", "got bytes b'0.5'"),
        (None, "got None"),
        (2 + 1j, "got complex (2+1j)"),
        (np.complex128(1j), "got complex128"),
        (np.array(1j), "got ndarray"),
        (np.array([1j, 2]), "got an array of complex numbers (dtype complex128)"),
        (np.array(["a"]), "got an array of strings (dtype <U1)"),
        (np.array([None]), "got an array of Python objects (dtype object)"),
        ([1.0, "a"], "got list of strings"),
        ((1.0, None), "got tuple of Python objects"),
        ({"x": 1.0}, "got dict {'x': 1.0}"),
        (10**400, "got int 1000"),
        (object(), "got object <object object at"),
        (fractions.Fraction(1, 2), "got Fraction Fraction(1, 2)"),  # NumPy: an object, not a float
        (np.array([(1.0, 2)], dtype="f8,i4"), "got an array of structured records"),
        (np.array([1], dtype="timedelta64[s]"), "got an array of time differences"),
    ],
)
def test_non_real_inputs_raise_type_errors_saying_what_they_got(value, expected):
    with pytest.raises(TypeError) as raised:
        as_float_array(value, "weights")
    message = str(raised.value)
    assert message.startswith("weights " + PREFIX)
    assert expected in message


def test_ragged_lists_are_refused_as_type_errors():
    with pytest.raises(TypeError, match=r"^x must be .* got list that NumPy cannot read as one"):
        as_float_array([[1.0, 2.0], [3.0]])


def test_long_values_are_shortened_in_the_message():
    with pytest.raises(TypeError) as raised:
        as_float_array("z" * 500)
    assert len(str(raised.value)) < 150
    assert str(raised.value).endswith("...")


def test_the_argument_name_defaults_to_x():
    with pytest.raises(TypeError, match=r"^x must be a real number"):
        as_float_array(None)


def test_finish_gives_scalars_for_scalar_input_and_arrays_otherwise():
    scalar = finish(np.array(0.5), scalar=True)
    assert type(scalar) is np.float64
    assert finish(np.array(0.5, dtype=np.float32), scalar=True).dtype == np.float32
    zero_d = finish(np.array(0.5), scalar=False)
    assert isinstance(zero_d, np.ndarray)
    assert zero_d.shape == ()
    vector = np.arange(3.0)
    assert finish(vector, scalar=False) is vector


def test_check_out_accepts_a_matching_array():
    out = np.empty((2, 3))
    assert check_out(out, (2, 3), np.dtype(np.float64)) is out


@pytest.mark.parametrize(
    ("out", "error", "message"),
    [
        ([0.0, 0.0], TypeError, r"out must be a NumPy array, got list \[0.0, 0.0\]"),
        (np.empty(2, dtype=np.float32), TypeError, "out must have dtype float64"),
        (np.empty(2, dtype=np.int64), TypeError, "got int64"),
        (np.empty(3), ValueError, r"out must have shape \(2,\), got \(3,\)"),
        (np.empty((2, 1)), ValueError, r"got \(2, 1\)"),
    ],
)
def test_check_out_refuses_what_cannot_hold_the_result(out, error, message):
    with pytest.raises(error, match=message):
        check_out(out, (2,), np.dtype(np.float64))


def test_check_out_refuses_read_only_arrays():
    out = np.empty(2)
    out.flags.writeable = False
    with pytest.raises(ValueError, match="out is read-only"):
        check_out(out, (2,), np.dtype(np.float64))
