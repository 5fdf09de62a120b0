"""Writing JSON so that a kill never leaves half a file (no TensorFlow here)."""

import json
import os
import tempfile


def write_json_atomically(path, payload, indent=1, sort_keys=False):
    """Write `payload` as JSON to `path` via a temporary file and `os.replace`.

    The directory is created if missing; on any error the temporary file is
    removed and `path` keeps its previous content.

    Returns:
      ``path``.
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    handle, temp_path = tempfile.mkstemp(dir=directory, prefix=os.path.basename(path) + ".",
                                         suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            json.dump(payload, file, indent=indent, sort_keys=sort_keys)
            file.write("\n")
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp_path, path)
    except BaseException:
        if os.path.exists(temp_path):
            os.remove(temp_path)
        raise
    return path
