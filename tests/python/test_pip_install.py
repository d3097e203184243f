"""`pip install ./python` works offline: into a fresh virtual environment
(with the system's packages visible, for setuptools and wheel), from no
package index, linking the build tree's libasync found with pkg-config;
the installed package then runs a job against the test broker."""

import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from conftest import BUILD, TOP


def test_pip_install_offline(mesh, tmp_path):
    try:
        import venv  # noqa: F401
        import ensurepip  # noqa: F401
    except ImportError:
        pytest.skip("%s has no venv/ensurepip (Debian: python3-venv)" % sys.executable)
    if shutil.which("pkg-config") is None:
        pytest.skip("no pkg-config")
    #  A copy, so that pip's build/ and egg-info stay out of the tree
    src = tmp_path / "python"
    shutil.copytree(TOP / "python", src,
                    ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env["PKG_CONFIG_PATH"] = str(BUILD / "lib" / "pkgconfig")
    env["PIP_NO_INDEX"] = "1"                 # offline: no package index at all
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    venv_dir = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages",
                    str(venv_dir)], check=True, env=env)
    python = venv_dir / "bin" / "python"
    out = subprocess.run([str(python), "-m", "pip", "install", "-q", str(src)],
                         env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    script = textwrap.dedent("""
        import sys, asyncmesh
        assert asyncmesh.__file__.startswith(sys.prefix), asyncmesh.__file__
        c = asyncmesh.Client(sys.argv[1])
        print(c.submit("testing.mul", 6, 7).wait(timeout=30))
    """)
    out = subprocess.run([str(python), "-c", script, mesh.endpoint], env=env,
                         cwd=str(tmp_path), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.strip() == "42"
