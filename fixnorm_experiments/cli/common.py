"""What every binary's main shares: its own flags, its --help, bad input as one line."""

import contextlib
import functools
import os
import sys
import tempfile
import types

from absl import app, flags


class BinaryFlags:
    """One binary's flags, kept apart from absl's global FLAGS until it runs.

    Binaries define flags of the same names (``--recipe``, ``--epochs``...);
    defined straight into absl's global FLAGS, importing two of them in one
    process (the tests do) is a DuplicateFlagError. Here each binary defines
    into its own `flags.FlagValues`, and `run_main` hands them to absl.

        DEFINE = BinaryFlags()
        DEFINE.string("recipe", None, "Recipe name.")
    """

    def __init__(self):
        self.values = flags.FlagValues()

    def __getattr__(self, kind):
        """``DEFINE.string(...)``: absl's ``flags.DEFINE_string`` into these flags."""
        return functools.partial(getattr(flags, f"DEFINE_{kind}"), flag_values=self.values)

    def defaults(self, **changes):
        """Every flag at its default (``changes`` applied), as parsed flags look."""
        values = {name: self.values[name].default for name in self.values}
        unknown = sorted(set(changes) - set(values))
        if unknown:
            raise KeyError(f"no such flag: {', '.join(unknown)}")
        return types.SimpleNamespace(**{**values, **changes})

    def install(self):
        """Register these flags in absl's global FLAGS, shown by ``--help``."""
        global_flags = flags.FLAGS
        for name in self.values:
            flag = self.values[name]
            global_flags[name] = flag
            # absl's --help lists the flags of the module it was started as;
            # a console script starts as a wrapper that defines none.
            global_flags.register_key_flag_for_module(sys.argv[0], flag)


def run_main(main, module, definitions):
    """Run an absl ``main`` with ``definitions`` (a `BinaryFlags`) as the flags,
    and ``module``'s docstring as the usage text."""
    definitions.install()
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


@contextlib.contextmanager
def native_stderr_captured():
    """Inside, what C/C++ code writes to stderr is captured, not printed.

    Yields a list that, on the way out, holds the captured lines, for
    `report.warnings_log.to_file` to write to the log: TensorFlow's C++ side
    writes its load-time lines before its logging reads TF_CPP_MIN_LOG_LEVEL.
    Python's own ``sys.stderr`` is captured too while inside, so keep the
    block to the import that needs it.
    """
    lines, failed = [], False
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield lines
        except BaseException:
            failed = True
            raise
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            text = capture.read().decode("utf-8", "replace")
            lines += [line for line in text.splitlines() if line.strip()]
            if failed:  # what was said before the failure may explain it
                sys.stderr.write(text)
