"""Build of the C extension ``algorithms._blocked`` (everything else is in pyproject.toml).

The default build is portable: -O3 without -march=native; the AVX2 kernel is compiled with a
function-level target attribute and chosen at run time.  ``ANNSWEEP_SANITIZE=1`` builds with
AddressSanitizer and UBSan instead (used by ``make sanitize``).
"""

import os

from setuptools import Extension, setup

WARNINGS = ["-std=c11", "-Wall", "-Wextra", "-Wpedantic"]

if os.environ.get("ANNSWEEP_SANITIZE") == "1":
    compile_args = WARNINGS + ["-O1", "-g", "-fsanitize=address,undefined", "-fno-omit-frame-pointer",
                               "-fno-sanitize-recover=undefined"]
    link_args = ["-fsanitize=address,undefined"]
    macros = [("BLOCKED_SANITIZE", "1")]
else:
    compile_args = WARNINGS + ["-O3"]
    link_args = []
    macros = []

setup(
    ext_modules=[
        Extension(
            "algorithms._blocked",
            sources=["algorithms/blocked/blocked_index.c", "algorithms/blocked/blocked_module.c"],
            depends=["algorithms/blocked/blocked_index.h"],
            extra_compile_args=compile_args,
            extra_link_args=link_args,
            define_macros=macros,
        )
    ]
)
