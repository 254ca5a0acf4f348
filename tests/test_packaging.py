"""What `pip install .` (not only an editable install) carries: the migrations and the command."""

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_carries_the_migrations_and_the_command(tmp_path):
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path)]
    subprocess.run([*build, str(ROOT)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("grafeas_py-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = next(archive.read(n).decode() for n in names if n.endswith("entry_points.txt"))
    for migration in (ROOT / "migrations").rglob("*"):
        if migration.is_file() and "__pycache__" not in migration.parts:
            assert f"grafeas_py/migrations/{migration.relative_to(ROOT / 'migrations')}" in names
    assert "grafeas-py = grafeas_py.cli:main" in entry_points
