"""Every exercise's check function accepts the solution in chapters/solutions/, rejects a wrong answer,
and reports (not raises on) a missing one."""
import importlib
import inspect
import sys
from pathlib import Path

import pytest

CHAPTERS = Path(__file__).resolve().parent.parent / "chapters"
sys.path.insert(0, str(CHAPTERS))
MODULES = sorted(p.stem for p in (CHAPTERS / "solutions").glob("ch[0-9][0-9].py"))
CASES = [(m, name) for m in MODULES for name in importlib.import_module(f"solutions.{m}").ANSWERS]


def test_every_chapter_with_exercises_has_solutions_for_all_its_checks():
    assert MODULES, "no solutions found"
    for m in MODULES:
        checks = importlib.import_module(f"checks.{m}")
        names = {n for n, f in inspect.getmembers(checks, inspect.isfunction)
                 if n.startswith("check_") and f.__module__ == checks.__name__}
        solutions = importlib.import_module(f"solutions.{m}")
        assert names == set(solutions.ANSWERS) == set(solutions.WRONG), m
        assert len(names) >= 3, f"{m} has fewer than three exercises"


@pytest.mark.parametrize("module, name", CASES)
def test_solution_passes_and_wrong_answer_fails(module, name, capsys):
    check = getattr(importlib.import_module(f"checks.{module}"), name)
    solutions = importlib.import_module(f"solutions.{module}")
    assert check(solutions.ANSWERS[name]()) is True
    assert "Correct" in capsys.readouterr().out
    assert check(solutions.WRONG[name]) is False
    assert "Not yet" in capsys.readouterr().out
    assert check(None) is False
    assert "No answer yet" in capsys.readouterr().out
