"""Runnable recipes (``python -m recipes.<name>``) built on tf_fixnorm."""
