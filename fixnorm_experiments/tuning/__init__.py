"""Tuning the recipes: the methods compared, the hypermodel, the tuner, a session.

- `methods.py`: the search methods and their ranges (no Keras);
- `hypermodel.py`: `RecipeHyperModel`, one trial of any recipe (its `Task`);
- `tuner.py`: `RecipeTuner` and `make_oracle` (FixNorm-tune's oracle from
  `tf_fixnorm.tuning`, keras-tuner's BO and random search);
- `session.py`: `tune(config)`, what `fixnorm-tune` runs: every method and
  seed, live lines, results.json, tables and plots (`fixnorm_experiments.report`).
"""
