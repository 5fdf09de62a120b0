"""The results file of a tuning session (results.json), written atomically."""

from __future__ import annotations

import json

from tf_fixnorm.jsonio import write_json_atomically


def write_results(path, results):
    """Write a results dict as JSON, atomically (temp file, then os.replace).

    Args:
      path: the JSON file to write; its directory is created if missing.
      results: a JSON-serializable results dict.

    Returns:
      ``path``.
    """
    return write_json_atomically(path, results, indent=1)


def read_results(path):
    """Load a results JSON file.

    Args:
      path: the file.

    Returns:
      The results dict.

    Raises:
      ValueError: naming the file, if it is not JSON or not a results dict
        (no "runs" list of runs with "method" and "trials").
    """
    with open(path, encoding="utf-8") as file:
        try:
            results = json.load(file)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}: not a tuning results file: invalid JSON ({error})") from None
    if not isinstance(results, dict) or not isinstance(results.get("runs"), list):
        raise ValueError(f"{path}: not a tuning results file: no \"runs\" list")
    for number, run in enumerate(results["runs"]):
        if not (isinstance(run, dict) and "method" in run
                and isinstance(run.get("trials"), list)):
            raise ValueError(f"{path}: not a tuning results file: run {number} "
                             f"needs \"method\" and a \"trials\" list")
    return results
