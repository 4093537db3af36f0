"""What the command-line scripts share."""

import sys
from typing import NoReturn


def fail(message: str) -> NoReturn:
    """Say on one line what went wrong and what to do (stderr), and exit with status 1.

    (wasabi's msg.fail wraps long messages over several lines.)
    """
    print(f"✘ {message}", file=sys.stderr, flush=True)
    sys.exit(1)
