"""The one table formatter."""

import pytest

from fixnorm_text import format_table


def test_columns_padded_and_aligned():
    table = format_table(["name", "n"], [["a", "10"], ["bbb", "2"]], [False, True])
    assert table.splitlines() == ["name   n", "----  --", "a     10", "bbb    2"]


def test_a_flag_list_of_the_wrong_length_is_refused_not_a_column_dropped():
    with pytest.raises(ValueError, match="2 flags for 3 columns"):
        format_table(["a", "b", "c"], [["1", "2", "3"]], [False, True])
    with pytest.raises(ValueError, match="a row has 2 cells for 3 columns"):
        format_table(["a", "b", "c"], [["1", "2"]])
