"""Training recipes for the audio detectors (``verity train audio.*``)."""
