"""dbt-gainsight: sync dbt models to Gainsight from inside the dbt project."""

import os as _os
import sys as _sys

__version__ = "0.1.0"


def _exit_130_on_ctrl_c_while_loading(kind, value, traceback) -> None:
    """Ctrl-C before the command runs (dbt, requests ... still loading): exit 130, one line.

    Every later phase handles Ctrl-C itself; without this a KeyboardInterrupt traceback was
    printed and the process died of SIGINT.
    """
    if issubclass(kind, KeyboardInterrupt):
        for stream, text in ((_sys.stdout, ""), (_sys.stderr, "Interrupted.\n")):
            try:
                stream.write(text)
                stream.flush()
            except (OSError, ValueError, AttributeError):
                pass
        _os._exit(130)
    _sys.__excepthook__(kind, value, traceback)


if _os.path.basename((getattr(_sys, "argv", None) or [""])[0]) == "dbt-gainsight":
    _sys.excepthook = _exit_130_on_ctrl_c_while_loading  # the console script only
