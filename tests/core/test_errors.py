"""The one error tree: every error the package raises has the same root, and is exported."""

import inspect

import pytest

import winback_study as wb
from winback_study import errors
from winback_study.cli import main


def test_every_error_class_is_in_the_tree_and_exported():
    classes = [c for _, c in inspect.getmembers(errors, inspect.isclass)
               if c.__module__ == errors.__name__]
    assert len(classes) == len(errors.__all__) - 1  # MAX_ROWS_SHOWN is not a class
    for cls in classes:
        assert issubclass(cls, wb.WinbackError), cls
        assert getattr(wb, cls.__name__) is cls, f"{cls.__name__} not exported"


@pytest.mark.parametrize("child, parent", [
    (wb.StudyDataError, wb.DataError), (wb.DataError, ValueError),
    (wb.DesignError, ValueError), (wb.ReturnModelError, wb.ModelError),
    (wb.SecondLifetimeError, wb.ModelError), (wb.SecondProfitError, wb.ModelError),
    (wb.SBGBoundaryError, wb.ModelError), (wb.SBGBoundaryError, RuntimeError),
    (wb.ConvergenceError, wb.ModelError), (wb.ConvergenceError, RuntimeError),
    (wb.SecondLifetimeConvergenceError, wb.ConvergenceError),
    (wb.SecondLifetimeConvergenceError, wb.SecondLifetimeError),
])
def test_the_tree(child, parent):
    assert issubclass(child, parent)


def test_a_data_error_keeps_column_rows_and_problem():
    err = wb.DataError("bad", column="x", rows=range(25), problem="not_0_or_1")
    assert (err.column, err.rows, err.n_rows, err.problem) == ("x", list(range(10)), 25,
                                                               "not_0_or_1")
    assert str(err) == "bad"


def test_the_command_line_reports_any_package_error_in_one_line(tmp_path, capsys):
    # a bad output extension is a DataError raised by core.io.write_table
    assert main(["simulate", "--customers", "50", "--out", str(tmp_path / "x.xlsx")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and ".xlsx" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.xlsx").exists()
