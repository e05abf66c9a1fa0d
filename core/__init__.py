"""Verity core: configuration, media, storage, database, custody, detectors, engine and CLI."""

__version__ = "0.2.6"
