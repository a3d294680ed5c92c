"""The `llmos` command (`python -m llmos`, and the console script).

The cyclic garbage collector is off before the command line is imported: start-up loads a
few hundred modules and makes no garbage worth collecting, and the collector would walk
them over and over as they load. `llmos._internal.cli` freezes what was loaded and turns it
back on once the command's own module is in."""

import gc

gc.disable()

from llmos._internal.cli import main  # noqa: E402

if __name__ == "__main__":
    main()
