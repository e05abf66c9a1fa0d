"""Training recipes of the lip-sync detectors (imported only by ``verity train``)."""
