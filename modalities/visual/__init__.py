"""Visual detectors: in-frame artifacts, temporal cues and metadata."""
