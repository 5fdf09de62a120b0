"""FixNorm-tune (METHOD.md section 3): search, oracle, hypermodel, reports."""
