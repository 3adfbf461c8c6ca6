import gc
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(autouse=True, scope="module")
def _collect_stray_loops():
    """Collect loops that looptime leaves behind while no import is being rewritten
    (CPython 3.11.7's bug 106905 crashes if one is collected during pytest's AST rewrite)."""
    yield
    gc.collect()
