"""The package's modules import in any order: whatever a command imports first."""

import subprocess
import sys
from pathlib import Path

import grafeas_py

# Imports every module with none of the package loaded before it, in one interpreter.
_IMPORT_EACH_FIRST = """
import importlib, pathlib, sys
root = pathlib.Path(sys.argv[1])
names = sorted(
    ".".join(path.relative_to(root.parent).with_suffix("").parts).removesuffix(".__init__")
    for path in root.rglob("*.py")
)
failed = []
for name in names:
    for loaded in [m for m in sys.modules if m == "grafeas_py" or m.startswith("grafeas_py.")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except ImportError as exc:
        failed.append(f"{name}: {exc}")
print(len(names))
print("\\n".join(failed))
"""


def test_every_module_imports_when_it_is_the_first_one_imported():
    """A command imports whatever its code path needs first (`grafeas-py db upgrade` starts at storage): an
    import cycle that the suite's import order hides breaks it. One did, through ingest/vex.py."""
    package = Path(grafeas_py.__file__).parent
    result = subprocess.run(
        [sys.executable, "-c", _IMPORT_EACH_FIRST, str(package)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    count, *failed = result.stdout.splitlines()
    assert int(count) > 100 and [line for line in failed if line] == []
