"""What every binary's main shares: its --help, and bad input as one line."""

import sys

from absl import app, flags


def run_main(main, module):
    """Run an absl ``main`` whose flags and usage live in ``module``.

    absl's ``--help`` lists the flags of the module it was started as; a
    console script starts as a wrapper that defines none. Make ``module``'s
    flags and docstring the ones shown.
    """
    values = flags.FLAGS
    for flag in values.get_key_flags_for_module(module.__name__):
        values.register_key_flag_for_module(sys.argv[0], flag)
    main_module = sys.modules.get("__main__")
    if main_module is not None and main_module is not module and module.__doc__:
        main_module.__doc__ = module.__doc__
    app.run(main)


def fail(error):
    """Exit with ``error`` as one ``error:`` line."""
    sys.exit("error: " + " ".join(str(error).split()))


def no_extra_arguments(argv):
    if len(argv) > 1:
        fail(f"unexpected arguments: {' '.join(argv[1:])}")
