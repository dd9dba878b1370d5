"""dbt-gainsight: sync dbt models to Gainsight from inside the dbt project."""

import os as _os
import sys as _sys

__version__ = "0.1.0"


def _on_uncaught(kind, value, traceback) -> None:
    """The console script's ``sys.excepthook``: a Ctrl-C while loading is exit 130 (interrupts)."""
    from dbt_gainsight import interrupts

    interrupts.exit_130_on_ctrl_c(kind, value, traceback)


def _on_unraisable(unraisable) -> None:
    """The console script's ``sys.unraisablehook``: a dropped Ctrl-C is noted, not printed."""
    from dbt_gainsight import interrupts

    interrupts.note_dropped_ctrl_c(unraisable)


# Set before anything else loads (so no import here): the console script only.
if _os.path.basename((getattr(_sys, "argv", None) or [""])[0]) == "dbt-gainsight":
    _sys.excepthook = _on_uncaught
    _sys.unraisablehook = _on_unraisable
