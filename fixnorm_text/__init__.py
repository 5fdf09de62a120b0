"""Plain-text tables: the one formatter behind every table tf_fixnorm prints.

The analysis table (`print(tf_fixnorm.analyze(model))`), the recipe listing
(`fixnorm-train --list`) and the tuner's trial and summary tables all go
through `format_table`, so they look alike and are aligned the same way.

It is a package of its own, importing nothing, because both floors use it:
the library (`tf_fixnorm`, whose import loads Keras and its backend to
register FixNorm for `keras.saving.load_model`) and the experiments
(`fixnorm_experiments`, whose `--help` and `--list` must answer without
loading TensorFlow).
"""

__all__ = ["format_table"]


def format_table(headers, rows, right_aligned=None, rule=True):
    """Columns padded to a common width, two spaces apart, trailing blanks stripped.

    Args:
      headers: the column titles.
      rows: sequences of cell strings, one cell per column.
      right_aligned: per column, whether its cells are right-aligned
        (numbers); default: every column left-aligned.
      rule: draw a line of dashes under the header.

    Returns:
      The table as one string, without a trailing newline.
    """
    headers = [str(cell) for cell in headers]
    rows = [[str(cell) for cell in row] for row in rows]
    for row in rows:
        if len(row) != len(headers):
            raise ValueError(f"a row has {len(row)} cells for {len(headers)} columns: {row}")
    right_aligned = list(right_aligned or [False] * len(headers))
    if len(right_aligned) != len(headers):  # zip would drop the columns past its end
        raise ValueError(f"right_aligned has {len(right_aligned)} flags for {len(headers)} "
                         "columns")
    widths = [max(len(cell) for cell in column) for column in zip(headers, *rows)]

    def line(cells):
        padded = [cell.rjust(width) if right else cell.ljust(width)
                  for cell, width, right in zip(cells, widths, right_aligned)]
        return "  ".join(padded).rstrip()

    lines = [line(headers)]
    if rule:
        lines.append("  ".join("-" * width for width in widths))
    lines += [line(row) for row in rows]
    return "\n".join(lines)
