"""Training recipes for the visual detectors (``verity train visual.*``)."""
