"""Lip-sync fakes Verity makes itself from real talking-head video, for measurement and training."""
