"""The one error tree: every error the package raises has the same root, and is exported."""

import inspect

import pytest

import winback_study as wb
from winback_study import errors
from winback_study.cli import main


def test_every_error_class_is_in_the_tree_and_exported():
    classes = [c for _, c in inspect.getmembers(errors, inspect.isclass)
               if c.__module__ == errors.__name__]
    assert len(classes) == len(errors.__all__) - 2  # MAX_ROWS_SHOWN, rows_text: not classes
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


def test_every_result_class_of_the_library_is_exported():
    """Results of models and analyses (not the reporting layer, which import does not load)."""
    import importlib
    import pkgutil

    missing = []
    for info in pkgutil.walk_packages(wb.__path__, "winback_study."):
        if info.name.startswith(("winback_study.reporting", "winback_study.cli")):
            continue
        module = importlib.import_module(info.name)
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if (cls.__module__ == module.__name__ and not name.startswith("_")
                    and (name.endswith(("Result", "Scores", "Curve", "Evaluation"))
                         or issubclass(cls, wb.FittedResult))):
                if getattr(wb, name, None) is not cls:
                    missing.append(f"{module.__name__}.{name}")
    assert not missing, f"result classes not exported from winback_study: {missing}"
