"""pytest integration: `pytest -p symbreak.pytest_plugin` (or `pytest_plugins = ["symbreak.pytest_plugin"]`
in a conftest.py).

- `--symbreak-seeds 1-20` sets the seeds that the `symbreak_seeds` fixture returns, so CI can run
  more seeds than a developer's quick loop without editing tests:

      def test_my_attention(symbreak_seeds):
          symbreak.validate(my_attention, supports="causal=top-left", seeds=symbreak_seeds)

- A ValidationError is reported as symbreak's own report (the properties, the worst element, the
  replay call) instead of a traceback into symbreak, and with pytest's --junitxml it is the
  failure message of that test case.
"""
import pytest

from . import ArgumentError, ValidationError


def _seeds(text):
    try:
        if "-" in text:
            first, last = (int(x) for x in text.split("-", 1))
        else:
            first, last = 1, int(text)
    except ValueError:
        raise ArgumentError("--symbreak-seeds: %r is not N or A-B" % (text,)) from None
    if first < 0 or last < first:
        raise ArgumentError("--symbreak-seeds: %r is not N or A-B with A <= B" % (text,))
    return range(first, last + 1)


def pytest_addoption(parser):
    parser.addoption("--symbreak-seeds", default="1-20", help="seeds for the symbreak_seeds fixture: N (1-N) or A-B")


@pytest.fixture
def symbreak_seeds(request):
    return _seeds(request.config.getoption("--symbreak-seeds"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if call.excinfo is not None and call.excinfo.errisinstance(ValidationError):
        report.longrepr = str(call.excinfo.value)
