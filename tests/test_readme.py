"""Every ```python block of README.md runs verbatim, on its own, in an empty folder.

A user copies one block at a time; a block that needs a name from another block, or a
folder a shell block was meant to create, fails for them. Each block runs in a fresh
interpreter whose working directory is an empty temporary folder.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

CACHE_SETTINGS = ("JAX_COMPILATION_CACHE_DIR", "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS")
README = Path(__file__).resolve().parent.parent / "README.md"


def python_blocks():
    """`(first line number, code)` of every ```python block of the README."""
    text = README.read_text()
    blocks = []
    for match in re.finditer(r"^```python\n(.*?)^```$", text, flags=re.S | re.M):
        blocks.append((text.count("\n", 0, match.start()) + 2, match.group(1)))
    return blocks


BLOCKS = python_blocks()


def test_the_readme_has_python_blocks():
    assert len(BLOCKS) >= 8


@pytest.mark.parametrize("code", [code for _, code in BLOCKS], ids=[f"line{line}" for line, _ in BLOCKS])
def test_readme_block_runs_verbatim(code, tmp_path):
    # a user's plain environment (no test XLA flags), sharing only the compilation cache
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "MPLBACKEND": "Agg"}
    env.update({name: os.environ[name] for name in CACHE_SETTINGS if name in os.environ})
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
