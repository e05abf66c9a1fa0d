"""Pseudo-fakes Verity makes itself from real media, for training and stress tests."""
