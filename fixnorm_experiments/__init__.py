"""The FixNorm paper's experiments, built on the `tf_fixnorm` library.

Recipes as data (`recipes`), one `Task` per kind of recipe (`tasks`), their
data, models and metrics, the training plumbing (`train`), the tuner
(`tuning`), its reports (`report`) and the binaries (`cli`: ``fixnorm-train``,
``fixnorm-tune``, ``fixnorm-analyze``). This package imports the library;
the library never imports it. Its dependencies are the ``experiments`` extra:
``pip install 'tf_fixnorm[experiments]'``.
"""
