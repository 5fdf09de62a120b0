"""Small datasets that ship inside installed packages (no download)."""

from tf_fixnorm.data.embedded import as_dataset, load_digits

__all__ = ["as_dataset", "load_digits"]
