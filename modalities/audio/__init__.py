"""Audio detectors: synthetic and converted speech."""
