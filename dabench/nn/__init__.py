"""Networks and training loops that methods reuse (public API for plugin authors): ``models`` (LeNet-style
feature/classifier networks), ``training`` (batching, schedules, divergence guard, predictor wrapper, source-only
training), ``features`` (pre-activation feature extraction) and ``hyperparams`` (shared defaults and ranges).
Importing this package does not import torch; import the torch modules inside ``build``/``fit``."""
