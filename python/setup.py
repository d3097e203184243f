"""pip install ./python: the asyncmesh package and its extension module.

The extension links libasync, found with pkg-config (asyncmesh.pc):
  - against a build tree: PKG_CONFIG_PATH=build/lib/pkgconfig (its .pc
    adds an rpath to build/lib, so the tree must stay where it is);
  - against an installed prefix (cmake --install build --prefix P):
    PKG_CONFIG_PATH=P/lib/pkgconfig unless P is a system prefix; the
    extension gets an rpath to P's libdir.
ASYNC_PKG_CONFIG names another pkg-config program. Needs no network:
setuptools and wheel of the system (Debian: python3-setuptools,
python3-wheel) build it: PKG_CONFIG_PATH=build/lib/pkgconfig pip install ./python
"""

import os
import shlex
import subprocess
import sys

from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))
#  Paths relative to this file: pip builds from a copy or in place
os.chdir(HERE)


def pkg_config():
    """The compile and link flags of asyncmesh.pc, split by kind."""
    program = os.environ.get("ASYNC_PKG_CONFIG", "pkg-config")
    try:
        out = subprocess.run([program, "--cflags", "--libs", "asyncmesh"],
                             check=True, capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", None) or str(exc)
        sys.exit("asyncmesh: cannot find libasync with '%s asyncmesh' (%s); set "
                 "PKG_CONFIG_PATH to BUILD/lib/pkgconfig of a built tree or to "
                 "PREFIX/lib/pkgconfig of an installed one"
                 % (program, detail.strip()))
    flags = {"include_dirs": [], "library_dirs": [], "libraries": [],
             "runtime_library_dirs": [], "extra_compile_args": [],
             "extra_link_args": []}
    for word in shlex.split(out):
        if word.startswith("-I"):
            flags["include_dirs"].append(word[2:])
        elif word.startswith("-L"):
            flags["library_dirs"].append(word[2:])
            if word[2:] not in ("/usr/lib", "/usr/lib64", "/lib"):
                flags["runtime_library_dirs"].append(word[2:])
        elif word.startswith("-l"):
            flags["libraries"].append(word[2:])
        elif word.startswith("-Wl,") or word.startswith("-fsanitize"):
            flags["extra_link_args"].append(word)
            if word.startswith("-fsanitize"):
                flags["extra_compile_args"].append(word)
        else:
            flags["extra_compile_args"].append(word)
    return flags


def version():
    """The project's version, from the top CMakeLists.txt when there."""
    try:
        with open(os.path.join(HERE, "..", "CMakeLists.txt")) as f:
            for line in f:
                if line.startswith("project (asyncmesh VERSION"):
                    return line.split("VERSION")[1].split()[0]
    except OSError:
        pass
    return "0.1.0"


setup(
    name="asyncmesh",
    version=version(),
    description="Python client of asyncmesh, a durable job queue (over libasync)",
    long_description=open(os.path.join(HERE, "README.md")).read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.7",
    packages=["asyncmesh"],
    package_data={"asyncmesh": ["py.typed", "_asyncmesh.pyi"]},
    ext_modules=[Extension("asyncmesh._asyncmesh", ["src/asyncmesh_module.c"],
                           **pkg_config())],
    zip_safe=False,
)
