"""interrupts.py: a Ctrl-C is exit 130 however Python or a library hands it on.

Each case runs in its own interpreter with the console script's hooks, as a Ctrl-C landing
while dbt-gainsight loads would meet them (the CLI sweep in test_trust.py hit both by chance).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

HOOKS = """
import sys
sys.argv[0] = "/venv/bin/dbt-gainsight"  # what makes dbt_gainsight install its hooks
from dbt_gainsight import interrupts
"""


def run(code: str) -> subprocess.CompletedProcess:
    source = HOOKS + textwrap.dedent(code)
    argv = [sys.executable, "-c", source]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


def test_a_ctrl_c_wrapped_in_another_error_exits_130_without_a_traceback():
    # Python 3.11 wraps an error in a class body's __set_name__ in a RuntimeError.
    proc = run(
        """
        class Field:
            def __set_name__(self, owner, name):
                raise KeyboardInterrupt

        class Fault:
            params = Field()
        """
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (130, "", "Interrupted.\n")


def test_a_ctrl_c_dropped_in_a_weakref_callback_is_noted_not_printed():
    proc = run(
        """
        import weakref

        class Thing:
            pass

        def callback(ref):
            raise KeyboardInterrupt

        thing = Thing()
        ref = weakref.ref(thing, callback)
        del thing  # Python cannot raise from here: it would print "Exception ignored"
        print(interrupts.tripped())
        """
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "True\n", "")


def test_other_errors_keep_their_traceback():
    proc = run("raise RuntimeError('a real bug')")
    assert proc.returncode == 1 and "Traceback" in proc.stderr and "a real bug" in proc.stderr
