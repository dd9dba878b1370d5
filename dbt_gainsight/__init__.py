"""dbt-gainsight: sync dbt models to Gainsight from inside the dbt project."""

import os as _os
import sys as _sys

__version__ = "0.1.0"

if _os.path.basename((getattr(_sys, "argv", None) or [""])[0]) == "dbt-gainsight":
    from dbt_gainsight import interrupts as _interrupts

    _interrupts.install_hooks()  # the console script only: a Ctrl-C while loading is exit 130
