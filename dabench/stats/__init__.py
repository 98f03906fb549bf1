"""Statistics, pure numpy/torch without I/O: bootstrap intervals (``bootstrap``, ``resampling``), latent
distances (``distances``), derived quantities (``derived``: salvage, domain spread) and declared precision
(``precision``)."""
