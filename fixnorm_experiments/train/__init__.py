"""Training plumbing: one job per module, nothing here knows a dataset or a model.

- `schedules.py`: warm-up, then cosine, step or poly decay;
- `optimizers.py`: the two flavours' optimizers (`coupled_l2.py`: the
  reference's SGD with coupled L2);
- `distribution.py`: tf.distribute strategies, replicas, per-worker dirs;
- `custom_loop.py`: the multi-worker training loop;
- `evaluation.py`: evaluation without Keras' `evaluate`;
- `checkpoints.py`: callbacks, resume points, weight digests.
"""
