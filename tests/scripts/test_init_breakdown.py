"""scripts/perf/init_breakdown.py: the import table reads `python -X importtime` the way the docs page says."""

from __future__ import annotations

import pytest

from scripts.perf.init_breakdown import imports_by_package

IMPORTTIME = """import time: self [us] | cumulative | imported package
import time:      2000 |       2000 |       numpy._core
import time:      1000 |       3000 |     numpy
import time:       500 |        500 |   re
import time:      4000 |       4000 |     app.schemas
import time:       300 |       4300 |   apikey
IMPORTS DONE
import time:      9000 |       9000 | fasttext
"""


def test_imports_are_self_times_summed_by_package_up_to_the_marker() -> None:
    # GIVEN importtime lines of the child, with an import made after the import phase (inside a timed stage)
    totals = imports_by_package(IMPORTTIME)
    # THEN each package counts its modules' self time once, the service's own modules together, nothing after
    assert totals == pytest.approx({"numpy": 0.003, "standard library": 0.0005, "this service (app, apikey)": 0.0043})
